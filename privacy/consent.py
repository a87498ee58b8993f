"""Consent to personalization: what the user answered, when, and to which policy version.

    <ns>:consent:{<b>}:<user>   hash   status (granted | denied), at (unix s), policy, channel

(the key is named by core/redis_keys.py, with the user's hash tag)

The record is the source of truth for every part that personalizes: the action
server reads it in the profile lookup's round trip, the feature worker keeps
live features only for users whose status is `granted`. No record means the
user has not answered yet, which is treated like `denied`.
"""

from __future__ import annotations

import time
from typing import Any

from core.redis_clients import REPLACE_HASH_SCRIPT, flat_mapping
from core.redis_keys import UserKeys
from core.settings import DEFAULT_POLICY_VERSION

GRANTED = "granted"
DENIED = "denied"
STATUSES = (GRANTED, DENIED)


def consent_record(
    status: str,
    channel: str | None,
    now: float | None = None,
    policy: str = DEFAULT_POLICY_VERSION,
) -> dict[str, str]:
    """`policy`: the privacy notice the user answered (PZ_PRIVACY_POLICY_VERSION)."""
    if status not in STATUSES:
        raise ValueError(f"consent status must be one of {', '.join(STATUSES)}, not {status!r}")
    return {
        "status": status,
        "at": f"{time.time() if now is None else now:.3f}",
        "policy": policy,
        "channel": (channel or "unknown")[:32],
    }


async def record_consent(
    client: Any,
    namespace: str,
    user_id: str,
    status: str,
    channel: str | None = None,
    pseudonym_key: bytes | None = None,
    policy: str = DEFAULT_POLICY_VERSION,
) -> dict[str, str]:
    """Replace the user's consent record atomically (asyncio Redis client, a server or a
    cluster); returns what was stored. `pseudonym_key` must be the one the action server and
    the feature worker use: it decides the key's hash tag."""
    record = consent_record(status, channel, policy=policy)
    key = UserKeys(namespace, pseudonym_key).consent(user_id)
    await client.eval(REPLACE_HASH_SCRIPT, 1, key, *flat_mapping(record))
    return record
