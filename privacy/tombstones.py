"""The marker that a user is being erased, read by every writer that could bring data back.

The key (`UserKeys.erasing` in core/redis_keys.py) names a digest of the user id, not
the id, in the user's hash tag (so the feature worker's script sees it in the user's slot),
and expires after the grace period: long enough for any turn already running to end (turns
are bounded by the deadlines in README "Reliability"), short enough to leave no lasting
trace.
"""

from __future__ import annotations

ERASURE_GRACE_S = 120
