"""A real three-node Redis Cluster for the tests in this directory, started once per session.

The stores' per-user data goes to the cluster; what is not per user (Rasa's tracker and lock
stores, the event stream) to the standalone test Redis beside it, as in production
(core/redis_clients.py).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from core.redis_clients import async_client, close_async, sync_client
from tests.servers import RedisClusterServers

KEY = b"cluster-test-pseudonym-key-0123456789"  # the pseudonym key of every store here


async def unlink_all(client, pattern: str) -> None:
    """Delete a namespace in batches (a published version adds 16,384 pointer keys)."""
    keys = [key async for key in client.scan_iter(match=pattern, count=1000)]
    for start in range(0, len(keys), 1000):
        await client.unlink(*keys[start : start + 1000])  # split per slot on a cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[RedisClusterServers]:
    servers = RedisClusterServers("session").start()
    yield servers
    servers.destroy()


@pytest.fixture
def ns() -> str:
    return f"c{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def cc(cluster, ns) -> AsyncIterator[aioredis.Redis]:
    """An asyncio cluster client (application user); the namespace is emptied afterwards."""
    client = async_client(cluster.url, cluster=True, socket_timeout=5)
    yield client
    await unlink_all(client, f"{ns}:*")
    await close_async(client)


@pytest.fixture
def sync_cc(cluster):
    """A blocking cluster client, as `segment publish` uses."""
    client = sync_client(cluster.url, cluster=True, socket_timeout=30)
    yield client
    client.close()


@pytest.fixture
async def shared(redis_url, ns) -> AsyncIterator[aioredis.Redis]:
    """The standalone Redis beside the cluster (streams, Rasa's stores)."""
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await unlink_all(client, f"{ns}:*")
    await client.close()
