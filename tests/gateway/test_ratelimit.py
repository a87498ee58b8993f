"""Rate limits in Redis: bursts get 429 with Retry-After, recover, are shared between gateway
processes, and fail open (chat keeps working) when Redis is gone. Rasa is the conftest stub.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from gateway.config import RateLimit
from gateway.ratelimit import RateLimiter, rate_key
from tests.servers import free_port


async def statuses(responses) -> list[int]:
    return [r.status for r in responses]


async def test_burst_over_the_user_limit_gets_429_then_recovers(make_gateway, rasa):
    gw = await make_gateway(user_rate=RateLimit(3, 1.0))
    responses = await asyncio.gather(*(gw.chat({"message": "hi"}) for _ in range(20)))
    codes = await statuses(responses)
    assert codes.count(200) == 3 and codes.count(429) == 17
    refused = next(r for r in responses if r.status == 429)
    assert refused.headers["Retry-After"] == "1"
    assert "too many requests" in (await refused.json())["error"]
    assert len(rasa.calls) == 3
    assert 'gateway_rate_limited_total{scope="user"} 17.0' in await gw.metrics()

    other_user = await gw.chat({"message": "hi"}, sub="user_casual")  # limits are per user
    assert other_user.status == 200

    await asyncio.sleep(1.1)
    assert (await gw.chat({"message": "hi again"})).status == 200


async def test_retry_after_counts_whole_seconds_until_a_slot_frees(make_gateway, rasa):
    gw = await make_gateway(user_rate=RateLimit(2, 5.0))
    codes = [(await gw.chat({"message": "hi"})).status for _ in range(2)]
    refused = await gw.chat({"message": "hi"})
    assert codes == [200, 200] and refused.status == 429
    assert 4 <= int(refused.headers["Retry-After"]) <= 5


async def test_limit_is_shared_by_two_gateway_processes(make_gateway, rasa, redis_url):
    first = await make_gateway(user_rate=RateLimit(4, 10.0))
    second = await make_gateway(first.config)  # another app, same Redis and namespace
    assert first.app is not second.app
    token = first.bearer("user_frequent")
    codes = []
    for i in range(8):
        gateway = (first, second)[i % 2]
        resp = await gateway.client.post("/v1/chat", json={"message": "hi"}, headers=token)
        codes.append(resp.status)
    assert codes == [200] * 4 + [429] * 4
    redis = aioredis.Redis.from_url(redis_url)
    key = rate_key(first.config.namespace, "user", "user_frequent")
    assert await redis.zcard(key) == 4
    assert 0 < await redis.pttl(key) <= 10_000
    await redis.close()


async def test_per_address_limit_covers_token_requests_too(make_gateway, rasa):
    gw = await make_gateway(address_rate=RateLimit(2, 10.0))
    form = {"grant_type": "client_credentials", "client_id": "crm", "client_secret": "wrong"}
    codes = [(await gw.client.post("/oauth/token", data=form)).status for _ in range(4)]
    assert codes == [401, 401, 429, 429]
    assert (await gw.chat({"message": "hi"})).status == 429  # same address, same budget
    assert 'gateway_rate_limited_total{scope="address"} 3.0' in await gw.metrics()


async def test_redis_down_fails_open_and_counts_it(make_gateway, rasa, caplog):
    gw = await make_gateway(
        redis_url=f"redis://127.0.0.1:{free_port()}/0", user_rate=RateLimit(1, 10)
    )
    codes = [(await gw.chat({"message": "hi"})).status for _ in range(3)]
    assert codes == [200, 200, 200]
    assert len(rasa.calls) == 3
    text = await gw.metrics()
    assert 'gateway_rate_limit_failopen_total{scope="user"} 3.0' in text
    assert 'gateway_rate_limit_failopen_total{scope="address"} 3.0' in text
    assert caplog.text.count("rate limiting is off") == 1  # one warning, not one per request


async def test_limiter_counts_only_accepted_requests(redis_url):
    client = aioredis.Redis.from_url(redis_url)
    limiter = RateLimiter(client, namespace="rltest", timeout=1.0)
    rule = RateLimit(2, 0.5)
    decisions = [await limiter.hit("user", "alice", rule) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, False, False, False]
    assert decisions[0].remaining == 1 and decisions[1].remaining == 0
    assert all(d.retry_after >= 1 for d in decisions[2:])
    await asyncio.sleep(0.7)
    assert (await limiter.hit("user", "alice", rule)).allowed
    await client.delete(rate_key("rltest", "user", "alice"))
    await client.close()


@pytest.mark.parametrize("window", [0.001, 3600.0])
async def test_limiter_handles_extreme_windows(redis_url, window):
    client = aioredis.Redis.from_url(redis_url)
    limiter = RateLimiter(client, namespace="rltest2", timeout=1.0)
    decision = await limiter.hit("address", "10.0.0.1", RateLimit(1, window))
    assert decision.allowed and not decision.failed_open
    await client.delete(rate_key("rltest2", "address", "10.0.0.1"))
    await client.close()


async def test_a_hung_redis_costs_one_timeout_a_second_not_one_per_request():
    """Fail open at once while Redis just failed; ask again a second later."""
    import time

    from tests.servers import RedisServer

    server = RedisServer("rl-hung").start()
    client = aioredis.Redis.from_url(server.url)
    limiter = RateLimiter(client, namespace="rlhung", timeout=0.25)
    rule = RateLimit(100, 60)
    try:
        assert not (await limiter.hit("user", "u", rule)).failed_open
        server.pause()
        started = time.monotonic()
        decisions = [await limiter.hit("user", "u", rule) for _ in range(10)]
        assert all(d.allowed and d.failed_open for d in decisions)
        assert time.monotonic() - started < 0.6  # one 0.25 s timeout, then none
        server.resume()
        await asyncio.sleep(1.05)
        assert not (await limiter.hit("user", "u", rule)).failed_open  # counting again
    finally:
        await client.close()
        server.destroy()
