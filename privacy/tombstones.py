"""The marker that a user is being erased, read by every writer that could bring data back.

The key names a digest of the user id, not the id, and expires after the grace
period: long enough for any turn already running to end (turns are bounded by
the deadlines in README "Reliability"), short enough to leave no lasting trace.
"""

from __future__ import annotations

import hashlib

ERASURE_GRACE_S = 120


def erasing_key(namespace: str, user_id: str) -> str:
    digest = hashlib.sha256(f"erasing:{user_id}".encode()).hexdigest()[:32]
    return f"{namespace}:erasing:{digest}"
