"""Deciding whose segment a turn speaks to: the one boundary where store faults become
fallbacks."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

from core.personas import DEFAULT
from core.shopper import NO_FACTS, ShopperFacts, price_band
from core.traits import PRESETS, UNPLACED, TraitError, Traits, parse_traits
from personalization.profiles import DEFAULT_PROFILE, MalformedProfile, Profile, parse_profile
from personalization.store import ProfileStore, StoreUnavailable, UserRecord
from privacy.consent import GRANTED

logger = logging.getLogger(__name__)

SOURCE_OVERRIDE = "override"
SOURCE_LIVE = "live"
SOURCE_PUBLISHED = "published"
SOURCE_UNPLACED = "unplaced"
SOURCE_NO_PROFILE = "no-profile"
SOURCE_STORE_DOWN = "store-unavailable"
SOURCE_MALFORMED = "malformed-profile"
SOURCE_NO_CONSENT = "no-consent"


@dataclass(frozen=True)
class Resolution:
    profile: Profile
    source: str
    version: str | None = None
    segment_id: str | None = None
    last_purchase: float | None = None
    consent: str | None = None  # as stored; None: not answered, or Redis did not say
    traits: Traits = UNPLACED
    facts: ShopperFacts = NO_FACTS

    @property
    def persona(self) -> str:
        """The traits' readable name (the bandit's and the reports' key)."""
        return self.traits.preset

    @property
    def personalized(self) -> bool:
        """Whether this turn may use and record personal data (profile, experiments, logs)."""
        return self.consent == GRANTED


def shopper_facts(profile: Profile, record: UserRecord) -> ShopperFacts:
    """The profile's CRM facts, refined by the purchases the feature worker has seen."""
    facts, live = profile.facts, record.purchases
    if not live.count:
        return facts
    orders, spend = facts.orders + int(live.count), facts.spend + live.total
    facts = replace(facts, orders=orders, spend=spend, price_band=price_band(orders, spend))
    if live.last_at is not None and (facts.last_order_at or 0) <= live.last_at:
        category = live.last_category or facts.last_order_category
        facts = replace(facts, last_order_at=live.last_at, last_order_category=category)
    return facts


def known_traits(slot: object) -> Traits | None:
    """The traits slot a previous turn set (the store-down fallback), if usable."""
    if not isinstance(slot, Mapping):
        return None
    try:
        return parse_traits(slot, str(slot.get("preset") or DEFAULT))
    except TraitError:
        return None


def _placed(record: UserRecord, profile: Profile) -> tuple[str, Traits, str | None, str | None]:
    """(source, traits, version, segment id): override, else online, else published."""
    if profile.segment is not None:
        return SOURCE_OVERRIDE, PRESETS[profile.segment], None, None
    if record.live is not None:
        return SOURCE_LIVE, record.live.traits, record.live_version, record.live_segment
    if record.segment is not None:
        return SOURCE_PUBLISHED, record.segment.traits, record.version, record.segment_id
    return SOURCE_UNPLACED, UNPLACED, record.version, None


async def resolve_profile(
    store: ProfileStore, sender_id: str, last_known: Traits | None = None
) -> Resolution:
    """Fetch and validate the user's profile and segment; never raises.

    Without consent to personalization (privacy/consent.py) it is the unplaced shopper and
    nothing stored about the user is used. With it, the traits come from the profile's
    explicit override (`segment`, a persona preset), else the feature worker's online
    assignment, else the active published version, else "no segment yet". If Redis is
    down or slow, the traits this conversation already saw (the `traits` slot, passed only
    when the user consented) are kept; malformed data always means the unplaced shopper.
    """
    try:
        record = await store.get_user(sender_id)
        if record.consent != GRANTED:
            return Resolution(DEFAULT_PROFILE, SOURCE_NO_CONSENT, consent=record.consent)
        profile = parse_profile(record.profile) if record.profile is not None else None
        source, traits, version, segment_id = _placed(record, profile or DEFAULT_PROFILE)
        if profile is None and source == SOURCE_UNPLACED:
            source = SOURCE_NO_PROFILE
        profile = profile or DEFAULT_PROFILE
        return Resolution(
            profile,
            source,
            version,
            segment_id,
            record.last_purchase,
            GRANTED,
            traits,
            shopper_facts(profile, record),
        )
    except StoreUnavailable as exc:
        logger.warning(
            "profile store unavailable for sender %r (%s); using %s",
            sender_id[:64],
            exc,
            "this conversation's traits" if last_known else "the unplaced shopper",
        )
        # The slot is only passed for users who consented, so keep using it.
        consent = GRANTED if last_known else None
        return Resolution(
            DEFAULT_PROFILE, SOURCE_STORE_DOWN, consent=consent, traits=last_known or UNPLACED
        )
    except MalformedProfile as exc:
        logger.warning(
            "malformed profile for sender %r (%s); using the unplaced shopper", sender_id[:64], exc
        )
        return Resolution(DEFAULT_PROFILE, SOURCE_MALFORMED)
