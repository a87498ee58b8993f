"""Deciding whose persona a turn speaks to: the one boundary where store faults become fallbacks."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from actions.personas import DEFAULT, is_persona
from actions.profiles import DEFAULT_PROFILE, MalformedProfile, Profile, parse_profile
from actions.store import ProfileStore, StoreUnavailable

logger = logging.getLogger(__name__)

SOURCE_STORE = "store"
SOURCE_NO_PROFILE = "no-profile"
SOURCE_STORE_DOWN = "store-unavailable"
SOURCE_MALFORMED = "malformed-profile"


@dataclass(frozen=True)
class Resolution:
    profile: Profile
    source: str

    @property
    def persona(self) -> str:
        return self.profile.segment


async def resolve_profile(
    store: ProfileStore, sender_id: str, last_known_segment: str | None = None
) -> Resolution:
    """Fetch and validate the user's profile; never raises.

    If Redis is down or slow, the segment this conversation already saw (the
    ``segment`` slot) is kept, else the default persona is used; malformed or
    missing data always means the default persona.
    """
    try:
        raw = await store.get_profile(sender_id)
        if raw is None:
            return Resolution(DEFAULT_PROFILE, SOURCE_NO_PROFILE)
        return Resolution(parse_profile(raw), SOURCE_STORE)
    except StoreUnavailable as exc:
        fallback = last_known_segment if is_persona(last_known_segment) else DEFAULT
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
