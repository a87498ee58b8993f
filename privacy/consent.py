"""Consent to personalization: what the user answered, when, and to which policy version.

    <ns>:consent:{<b>}:<user>   hash   status (granted | denied), at (unix s), policy, channel

(the key is named by actions/segment_keys.py, with the user's hash tag)

The record is the source of truth for every part that personalizes: the action
server reads it in the profile lookup's round trip, the feature worker keeps
live features only for users whose status is `granted`. No record means the
user has not answered yet, which is treated like `denied`.
"""

from __future__ import annotations

import os
import time
from typing import Any

from actions.redis_clients import REPLACE_HASH_SCRIPT, flat_mapping
from actions.segment_keys import UserKeys

GRANTED = "granted"
DENIED = "denied"
STATUSES = (GRANTED, DENIED)
DEFAULT_POLICY_VERSION = "2026-11-25"


def policy_version() -> str:
    """The privacy notice users agree to (PZ_PRIVACY_POLICY_VERSION); bump it when it changes."""
    return os.environ.get("PZ_PRIVACY_POLICY_VERSION", "").strip() or DEFAULT_POLICY_VERSION


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
    client: Any,
    namespace: str,
    user_id: str,
    status: str,
    channel: str | None = None,
    pseudonym_key: bytes | None = None,
) -> dict[str, str]:
    """Replace the user's consent record atomically (asyncio Redis client, a server or a
    cluster); returns what was stored. `pseudonym_key` must be the one the action server and
    the feature worker use: it decides the key's hash tag."""
    record = consent_record(status, channel)
    key = UserKeys(namespace, pseudonym_key).consent(user_id)
    await client.eval(REPLACE_HASH_SCRIPT, 1, key, *flat_mapping(record))
    return record
