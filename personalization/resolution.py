"""Deciding whose persona a turn speaks to: the one boundary where store faults become fallbacks."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from core.personas import DEFAULT, persona_or_default
from personalization.profiles import DEFAULT_PROFILE, MalformedProfile, Profile, parse_profile
from personalization.store import ProfileStore, StoreUnavailable
from privacy.consent import GRANTED

logger = logging.getLogger(__name__)

SOURCE_LIVE = "live"
SOURCE_PUBLISHED = "published"
SOURCE_STORE = "store"
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

    @property
    def persona(self) -> str:
        return self.profile.segment

    @property
    def personalized(self) -> bool:
        """Whether this turn may use and record personal data (profile, experiments, logs)."""
        return self.consent == GRANTED


async def resolve_profile(
    store: ProfileStore, sender_id: str, last_known_segment: str | None = None
) -> Resolution:
    """Fetch and validate the user's profile and published segment; never raises.

    Without consent to personalization (privacy/consent.py) it is the default
    persona and nothing stored about the user is used. With it, the persona
    comes from the feature worker's online assignment when there is one, else
    from the active published segment version when the user is in it, else
    from the profile's `segment` field, else `default`. If Redis
    is down or slow, the segment this conversation already saw (the `segment`
    slot, passed only when the user consented) is kept, else the default persona
    is used; malformed data always means the default persona.
    """
    try:
        record = await store.get_user(sender_id)
        if record.consent != GRANTED:
            return Resolution(DEFAULT_PROFILE, SOURCE_NO_CONSENT, consent=record.consent)
        if record.live_persona is not None:
            profile = parse_profile(record.profile or {}, segment=record.live_persona)
            return Resolution(
                profile,
                SOURCE_LIVE,
                record.version,
                record.live_segment,
                record.last_purchase,
                GRANTED,
            )
        if record.persona is not None:
            profile = parse_profile(record.profile or {}, segment=record.persona)
            return Resolution(
                profile,
                SOURCE_PUBLISHED,
                record.version,
                record.segment_id,
                record.last_purchase,
                GRANTED,
            )
        if record.profile is None:
            return Resolution(
                DEFAULT_PROFILE,
                SOURCE_NO_PROFILE,
                last_purchase=record.last_purchase,
                consent=GRANTED,
            )
        return Resolution(
            parse_profile(record.profile),
            SOURCE_STORE,
            last_purchase=record.last_purchase,
            consent=GRANTED,
        )
    except StoreUnavailable as exc:
        fallback = persona_or_default(last_known_segment)
        logger.warning(
            "profile store unavailable for sender %r (%s); using persona %r",
            sender_id[:64],
            exc,
            fallback,
        )
        # The slot is only passed for users who consented, so keep using it.
        consent = GRANTED if last_known_segment else None
        return Resolution(Profile(segment=fallback), SOURCE_STORE_DOWN, consent=consent)
    except MalformedProfile as exc:
        logger.warning(
            "malformed profile for sender %r (%s); using persona %r", sender_id[:64], exc, DEFAULT
        )
        return Resolution(DEFAULT_PROFILE, SOURCE_MALFORMED)
