"""Redis clients for the segment and feature stores: one server, or a Redis Cluster.

Which one is configured by core/settings.py (RedisSettings: PZ_REDIS_URL, PZ_REDIS_CLUSTER,
PZ_SHARED_REDIS_URL); with a cluster, what is not per user (Rasa's tracker and lock stores,
the event streams, experiment exposures, decisions, bandit counters) stays on the
standalone Redis beside it.

Code that writes several of a user's keys uses plain pipelines (routed per node on a
cluster) or a script whose keys share the user's hash tag (core/redis_keys.py), never
MULTI, so the same code runs on both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

# Replaces a hash atomically (DEL + HSET) on a server and on a cluster (one key: one slot).
REPLACE_HASH_SCRIPT = """
redis.call('DEL', KEYS[1])
if #ARGV > 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
return 1
"""


def async_client(url: str, cluster: bool = False, **options: Any):
    """An asyncio client: RedisCluster when `cluster`, else Redis. `max_connections` is per
    node on a cluster."""
    if cluster:
        return AsyncRedisCluster.from_url(url, **options)
    return aioredis.Redis.from_url(url, **options)


def sync_client(url: str, cluster: bool = False, **options: Any):
    """A blocking client, RedisCluster or Redis as for `async_client`."""
    if cluster:
        return RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, **options)


def is_cluster(client: Any) -> bool:
    return isinstance(client, AsyncRedisCluster | RedisCluster)


async def close_async(client: Any) -> None:
    """Close an asyncio client of either kind and its connections."""
    await client.close()
    if not is_cluster(client):
        await client.connection_pool.disconnect()


def flat_mapping(mapping: Mapping[str, object]) -> list[str]:
    return [part for field, value in mapping.items() for part in (field, str(value))]
