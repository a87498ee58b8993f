"""Local time of day, shared by the live features, the offline features and the wording cues."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYPARTS = ("night", "morning", "afternoon", "evening")  # 0-6, 6-12, 12-18, 18-24 local time
# How an answer greets in each daypart; none at night ("good night" says goodbye).
GREETINGS = {"morning": "Good morning", "afternoon": "Good afternoon", "evening": "Good evening"}


@lru_cache(maxsize=256)
def zone(name: str) -> ZoneInfo | None:
    """The named timezone, or None when it is empty or unknown."""
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def local_daypart(timestamp: float, timezone: str | None) -> str | None:
    """The daypart at `timestamp` in `timezone`; None when the timezone is unknown."""
    tz = zone(timezone or "")
    if tz is None:
        return None
    return DAYPARTS[dt.datetime.fromtimestamp(timestamp, tz).hour // 6]
