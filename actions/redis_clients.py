"""Redis clients for the segment and feature stores: one server, or a Redis Cluster.

    PZ_REDIS_URL         the stores' Redis; with a cluster, any one node (the client finds
                         the others)
    PZ_REDIS_CLUSTER=1   PZ_REDIS_URL is a Redis Cluster (redis-py's RedisCluster)
    PZ_SHARED_REDIS_URL  with a cluster: the standalone Redis that keeps what is not per user
                         (Rasa's tracker and lock stores, the event streams, experiment
                         exposures, decisions, bandit counters); without a cluster, unused:
                         everything shares PZ_REDIS_URL

Code that writes several of a user's keys uses plain pipelines (routed per node on a
cluster) or a script whose keys share the user's hash tag (actions/segment_keys.py), never
MULTI, so the same code runs on both.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

DEFAULT_URL = "redis://127.0.0.1:6390/0"
CLUSTER_ENV = "PZ_REDIS_CLUSTER"
SHARED_URL_ENV = "PZ_SHARED_REDIS_URL"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}

# Replaces a hash atomically (DEL + HSET) on a server and on a cluster (one key: one slot).
REPLACE_HASH_SCRIPT = """
redis.call('DEL', KEYS[1])
if #ARGV > 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
return 1
"""


def cluster_mode(env: Mapping[str, str] = os.environ) -> bool:
    raw = env.get(CLUSTER_ENV, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{CLUSTER_ENV}={raw!r}: use 1 for a Redis Cluster or 0 for one server")


def redis_url(env: Mapping[str, str] = os.environ) -> str:
    return env.get("PZ_REDIS_URL") or DEFAULT_URL


def shared_url(env: Mapping[str, str] = os.environ) -> str | None:
    """The standalone Redis for non-per-user data in cluster mode (None: not a cluster)."""
    if not cluster_mode(env):
        return None
    url = env.get(SHARED_URL_ENV, "").strip()
    if not url:
        raise ValueError(
            f"{CLUSTER_ENV}=1 needs {SHARED_URL_ENV}: the standalone Redis of Rasa's stores, "
            "the event streams and the experiment logs"
        )
    return url


def async_client(url: str, cluster: bool | None = None, **options: Any):
    """An asyncio client: RedisCluster when `cluster` (default: PZ_REDIS_CLUSTER), else Redis.
    `max_connections` is per node on a cluster."""
    if cluster_mode() if cluster is None else cluster:
        return AsyncRedisCluster.from_url(url, **options)
    return aioredis.Redis.from_url(url, **options)


def sync_client(url: str, cluster: bool | None = None, **options: Any):
    """A blocking client, RedisCluster or Redis as for `async_client`."""
    if cluster_mode() if cluster is None else cluster:
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
