"""Privacy test fixtures: a Redis namespace of one's own, the project's Rasa stores in it."""

from __future__ import annotations

import uuid

import pytest
import redis
import redis.asyncio as aioredis
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig

from rasa_ext.stores import RedisLockStore, RedisTrackerStore


@pytest.fixture
async def ns(redis_url):
    """(namespace, asyncio client); every key under the namespace is removed afterwards."""
    namespace = f"e{uuid.uuid4().hex[:10]}"
    client = aioredis.Redis.from_url(redis_url)
    yield namespace, client
    keys = [key async for key in client.scan_iter(match=f"{namespace}:*", count=1000)]
    for start in range(0, len(keys), 1000):
        await client.unlink(*keys[start : start + 1000])
    await client.close()


# The pseudonym key of the privacy tests' stores (the tracker store's erasure guard names the
# marker with it, as the eraser does).
PSEUDONYM_KEY = b"k" * 32


def rasa_stores(
    redis_url: str, namespace: str, pseudonym_key: bytes = PSEUDONYM_KEY
) -> tuple[RedisTrackerStore, RedisLockStore]:
    url = redis.connection.parse_url(redis_url)
    auth = {"port": url.get("port", 6379), "username": url.get("username")}
    auth["password"] = url.get("password")
    tracker_store = RedisTrackerStore(
        Domain.empty(),
        host="127.0.0.1",
        key_prefix=namespace,
        pseudonym_key=pseudonym_key,
        **auth,
    )
    lock_store = RedisLockStore(EndpointConfig(url="127.0.0.1", key_prefix=namespace, **auth))
    return tracker_store, lock_store
