"""How long conversations and live features are kept after the user's last activity."""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_RETENTION_DAYS = 30


def retention_seconds(env: Mapping[str, str] | None = None) -> int:
    """PZ_RETENTION_DAYS (default 30) in seconds; 0 keeps data until erased."""
    raw = (env if env is not None else os.environ).get("PZ_RETENTION_DAYS", "")
    if not raw.strip():
        return DEFAULT_RETENTION_DAYS * 86400
    try:
        days = float(raw)
    except ValueError:
        raise ValueError(f"PZ_RETENTION_DAYS={raw!r} is not a number of days") from None
    if not days >= 0:
        raise ValueError(f"PZ_RETENTION_DAYS={raw!r} must be 0 (keep until erased) or more")
    return int(days * 86400)
