"""The profile store against a real Redis: one round trip per user, deadlines, recovery."""

from __future__ import annotations

import pytest

from personalization.store import ProfileStore, StoreUnavailable


async def profile_of(store: ProfileStore, sender_id: str):
    return (await store.get_user(sender_id)).profile


async def test_put_replaces_the_whole_profile(store):
    await store.put_profile("u", {"segment": "default", "favourite_category": "laptops"})
    await store.put_profile("u", {"segment": "bargain_hunter"})
    assert await profile_of(store, "u") == {b"segment": b"bargain_hunter"}


async def test_unknown_and_unreasonable_sender_ids_have_no_profile(store):
    assert await profile_of(store, "nobody") is None
    assert await profile_of(store, "") is None
    assert await profile_of(store, "x" * 1000) is None


async def test_down_redis_raises_store_unavailable(private_redis):
    store = ProfileStore.from_url(private_redis.url, timeout=0.2)
    private_redis.stop()
    with pytest.raises(StoreUnavailable):
        await profile_of(store, "u")
    assert await store.ping() is False
    await store.close()


async def test_first_call_after_a_redis_restart_succeeds(private_redis):
    store = ProfileStore.from_url(private_redis.url, timeout=0.5)
    await store.put_profile("u", {"segment": "tech_enthusiast"})
    private_redis.stop()
    private_redis.start()  # same port, same data dir: append-only file brings the data back

    assert await profile_of(store, "u") == {b"segment": b"tech_enthusiast"}
    await store.close()


async def test_a_hung_redis_costs_one_timeout_a_second_not_one_per_lookup(private_redis):
    """After a failure the store answers "unavailable" at once for a second (the action's
    fallback), then asks Redis again: personalization resumes within a second."""
    import asyncio
    import time

    store = ProfileStore.from_url(private_redis.url, timeout=0.2)
    await store.put_profile("u", {"segment": "tech_enthusiast"})
    private_redis.pause()
    try:
        with pytest.raises(StoreUnavailable):
            await profile_of(store, "u")  # the one timeout
        started = time.monotonic()
        for _ in range(10):
            with pytest.raises(StoreUnavailable, match="less than a second ago"):
                await profile_of(store, "u")
        assert time.monotonic() - started < 0.1
    finally:
        private_redis.resume()
    await asyncio.sleep(1.05)
    assert await profile_of(store, "u") == {b"segment": b"tech_enthusiast"}
    await store.close()
