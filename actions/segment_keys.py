"""Where published segments live in Redis; shared by the publisher and the action server.

<ns>:seg:active             string  the active version id
<ns>:seg:<ver>:meta         hash    audit metadata; field `segments` maps ids to personas
<ns>:seg:<ver>:b:<bucket>   hash    user id -> segment id
"""

from __future__ import annotations

import zlib

BUCKETS = 16384


def bucket_of(user_id: str) -> int:
    return zlib.crc32(user_id.encode("utf-8")) % BUCKETS


def active_key(namespace: str) -> str:
    return f"{namespace}:seg:active"


def meta_key(namespace: str, version: str) -> str:
    return f"{namespace}:seg:{version}:meta"


def model_key(namespace: str, version: str) -> str:
    """The version's JSON assigner spec (segmentation/assign.py)."""
    return f"{namespace}:seg:{version}:model"


def bucket_key(namespace: str, version: str, bucket: int) -> str:
    return f"{namespace}:seg:{version}:b:{bucket}"


def live_key(namespace: str, user_id: str) -> str:
    """Live features and the online segment the feature worker keeps (realtime/live.py)."""
    return f"{namespace}:live:{user_id}"


# One round trip: the active version, the user's segment in it, the profile hash, the
# online segment the feature worker assigned (persona, segment) with the last purchase time,
# and the user's consent status (privacy/consent.py).
# It reads a bucket key named inside the script, which is fine on one Redis server;
# Redis Cluster would need the version in the key's hash tag.
LOOKUP_SCRIPT = """
local version = redis.call('GET', KEYS[1])
local segment = false
if version then
  segment = redis.call('HGET', ARGV[1] .. ':seg:' .. version .. ':b:' .. ARGV[2], ARGV[3])
end
return {version, segment, redis.call('HGETALL', KEYS[2]),
        redis.call('HMGET', KEYS[3], 'persona', 'segment', 'last_purchase'),
        redis.call('HGET', KEYS[4], 'status')}
"""
