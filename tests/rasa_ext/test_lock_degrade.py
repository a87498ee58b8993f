"""The lock store with Redis gone: turns go on, one at a time per conversation, and Redis
locks are back within a second of Redis (a real Redis server, stopped and started)."""

from __future__ import annotations

import asyncio
import time
import uuid

import redis
from prometheus_client import generate_latest
from rasa.utils.endpoints import EndpointConfig

from rasa_ext.stores import RedisLockStore
from tests.servers import RedisServer


def lock_store(server: RedisServer) -> RedisLockStore:
    config = EndpointConfig(
        url="127.0.0.1", port=server.port, username="pz", password=server.password, key_prefix="pz"
    )
    return RedisLockStore(config)


async def test_without_redis_a_conversation_is_still_served_in_order():
    server = RedisServer(f"locks-{uuid.uuid4().hex[:6]}").start()
    store = lock_store(server)
    admin = redis.Redis.from_url(server.admin_url)
    order: list[str] = []

    async def turn(name: str, hold: float) -> None:
        async with store.lock("conv"):
            order.append(f"{name}+")
            await asyncio.sleep(hold)
            order.append(f"{name}-")

    try:
        await turn("up", 0)
        server.stop()
        started = time.monotonic()
        await asyncio.gather(turn("a", 0.05), turn("b", 0))
        assert time.monotonic() - started < 2  # one quick failure, then the in-process lock
        assert order[2:] in (["a+", "a-", "b+", "b-"], ["b+", "b-", "a+", "a-"])
        text = generate_latest(store.metrics).decode()
        assert "pz_lock_store_degraded_turns_total 2.0" in text

        server.start()
        await asyncio.sleep(1.05)  # the breaker's pause

        async def held_in_redis() -> None:
            async with store.lock("conv"):
                assert admin.exists("pz:lock:conv")

        await held_in_redis()
        assert "pz_lock_store_degraded_turns_total 2.0" in generate_latest(store.metrics).decode()
    finally:
        server.destroy()


async def test_a_ticket_left_in_redis_by_an_outage_does_not_hold_the_conversation():
    """Redis went away while a turn held its ticket (the key survives a restart in the
    append-only file): the ticket is released when Redis is back, not after its lifetime."""
    server = RedisServer(f"locks-{uuid.uuid4().hex[:6]}").start()
    store = lock_store(server)
    try:
        async with store.lock("conv", lock_lifetime=60):
            server.pause()  # hung: the release below times out
        assert store.unreleased
        server.resume()
        await asyncio.sleep(1.05)  # the breaker's pause
        started = time.monotonic()
        async with store.lock("conv", lock_lifetime=60):
            pass
        assert time.monotonic() - started < 1  # not the 60 s the old ticket had left
        assert not store.unreleased
    finally:
        server.destroy()
