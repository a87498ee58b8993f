"""Deciding whose persona a turn speaks to: the one boundary where store faults become fallbacks."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from actions.personas import DEFAULT, persona_or_default
from actions.profiles import DEFAULT_PROFILE, MalformedProfile, Profile, parse_profile
from actions.store import ProfileStore, StoreUnavailable

logger = logging.getLogger(__name__)

SOURCE_LIVE = "live"
SOURCE_PUBLISHED = "published"
SOURCE_STORE = "store"
SOURCE_NO_PROFILE = "no-profile"
SOURCE_STORE_DOWN = "store-unavailable"
SOURCE_MALFORMED = "malformed-profile"


@dataclass(frozen=True)
class Resolution:
    profile: Profile
    source: str
    version: str | None = None
    segment_id: str | None = None
    last_purchase: float | None = None

    @property
    def persona(self) -> str:
        return self.profile.segment


async def resolve_profile(
    store: ProfileStore, sender_id: str, last_known_segment: str | None = None
) -> Resolution:
    """Fetch and validate the user's profile and published segment; never raises.

    The persona comes from the feature worker's online assignment when there is
    one, else from the active published segment version when the user is in it,
    else from the profile's `segment` field, else `default`. If Redis
    is down or slow, the segment this conversation already saw (the `segment`
    slot) is kept, else the default persona is used; malformed data always
    means the default persona.
    """
    try:
        record = await store.get_user(sender_id)
        if record.live_persona is not None:
            profile = parse_profile(record.profile or {}, segment=record.live_persona)
            return Resolution(
                profile, SOURCE_LIVE, record.version, record.live_segment, record.last_purchase
            )
        if record.persona is not None:
            profile = parse_profile(record.profile or {}, segment=record.persona)
            return Resolution(
                profile, SOURCE_PUBLISHED, record.version, record.segment_id, record.last_purchase
            )
        if record.profile is None:
            return Resolution(
                DEFAULT_PROFILE, SOURCE_NO_PROFILE, last_purchase=record.last_purchase
            )
        return Resolution(
            parse_profile(record.profile), SOURCE_STORE, last_purchase=record.last_purchase
        )
    except StoreUnavailable as exc:
        fallback = persona_or_default(last_known_segment)
        logger.warning(
            "profile store unavailable for sender %r (%s); using persona %r",
            sender_id[:64],
            exc,
            fallback,
        )
        return Resolution(Profile(segment=fallback), SOURCE_STORE_DOWN)
    except MalformedProfile as exc:
        logger.warning(
            "malformed profile for sender %r (%s); using persona %r", sender_id[:64], exc, DEFAULT
        )
        return Resolution(DEFAULT_PROFILE, SOURCE_MALFORMED)
