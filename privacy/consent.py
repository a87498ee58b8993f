"""Consent to personalization: what the user answered, when, and to which policy version.

    <ns>:consent:<user>   hash   status (granted | denied), at (unix s), policy, channel

The record is the source of truth for every part that personalizes: the action
server reads it in the profile lookup's round trip, the feature worker keeps
live features only for users whose status is `granted`. No record means the
user has not answered yet, which is treated like `denied`.
"""

from __future__ import annotations

import os
import time
from typing import Any

GRANTED = "granted"
DENIED = "denied"
STATUSES = (GRANTED, DENIED)
DEFAULT_POLICY_VERSION = "2026-11-25"


def policy_version() -> str:
    """The privacy notice users agree to (PZ_PRIVACY_POLICY_VERSION); bump it when it changes."""
    return os.environ.get("PZ_PRIVACY_POLICY_VERSION", "").strip() or DEFAULT_POLICY_VERSION


def consent_key(namespace: str, user_id: str) -> str:
    return f"{namespace}:consent:{user_id}"


def consent_record(status: str, channel: str | None, now: float | None = None) -> dict[str, str]:
    if status not in STATUSES:
        raise ValueError(f"consent status must be one of {', '.join(STATUSES)}, not {status!r}")
    return {
        "status": status,
        "at": f"{time.time() if now is None else now:.3f}",
        "policy": policy_version(),
        "channel": (channel or "unknown")[:32],
    }


async def record_consent(
    client: Any, namespace: str, user_id: str, status: str, channel: str | None = None
) -> dict[str, str]:
    """Replace the user's consent record (asyncio Redis client); returns what was stored."""
    record = consent_record(status, channel)
    key = consent_key(namespace, user_id)
    async with client.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        pipe.hset(key, mapping=record)
        await pipe.execute()
    return record
