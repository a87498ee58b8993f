"""POST /v1/events/purchase: CRM purchases land on the Redis event stream as the feature
worker reads them; bad bodies and a dead Redis give JSON errors, never a 500.
"""

from __future__ import annotations

import json
import time

import pytest
import redis.asyncio as aioredis

from tests.servers import free_port

PURCHASE = {
    "user_id": "user_bargain",
    "amount": 199.9,
    "category": "headphones",
    "timestamp": 1767600000,
    "order_id": "ord-1",
}


def ingest_headers(gw) -> dict[str, str]:
    return gw.bearer("crm", scopes=("ingest",))


async def test_purchase_is_written_to_the_stream(gw, redis_url):
    resp = await gw.client.post("/v1/events/purchase", json=PURCHASE, headers=ingest_headers(gw))
    assert resp.status == 202
    event_id = (await resp.json())["event_id"]
    redis = aioredis.Redis.from_url(redis_url)
    entries = await redis.xrange(gw.config.stream)
    await redis.close()
    assert [entry_id.decode() for entry_id, _ in entries] == [event_id]
    assert json.loads(entries[0][1][b"event"]) == {
        "event": "purchase",
        "sender_id": "user_bargain",
        "timestamp": 1767600000.0,
        "amount": 199.9,
        "category": "headphones",
        "order_id": "ord-1",
    }


async def test_optional_fields_default(gw, redis_url):
    before = time.time()
    body = {"user_id": "user_casual", "amount": 5}
    resp = await gw.client.post("/v1/events/purchase", json=body, headers=ingest_headers(gw))
    assert resp.status == 202
    redis = aioredis.Redis.from_url(redis_url)
    ((_, fields),) = await redis.xrange(gw.config.stream)
    await redis.close()
    event = json.loads(fields[b"event"])
    assert event["category"] == "" and event["order_id"] == "" and event["amount"] == 5.0
    assert before <= event["timestamp"] <= time.time()


@pytest.mark.parametrize(
    ("change", "hint"),
    [
        ({"amount": 0}, "amount"),
        ({"amount": -5}, "amount"),
        ({"amount": "12"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": 2_000_000_000}, "amount"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": 17}, "user_id"),
        ({"user_id": "a\nb"}, "control"),
        ({"user_id": "u" * 129}, "user_id"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": -1}, "timestamp"),
        ({"category": ["phones"]}, "category"),
        ({"coupon": "FREE"}, "unknown field"),
    ],
)
async def test_invalid_purchases_are_400_and_not_written(gw, redis_url, change, hint):
    resp = await gw.client.post(
        "/v1/events/purchase", json={**PURCHASE, **change}, headers=ingest_headers(gw)
    )
    assert resp.status == 400
    assert hint in (await resp.json())["error"]
    redis = aioredis.Redis.from_url(redis_url)
    assert await redis.exists(gw.config.stream) == 0
    await redis.close()


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        (b'{"user_id": "u", "amount": 1e400}', "amount"),
        (b'{"user_id": "u", "amount": Infinity}', "JSON"),
    ],
)
async def test_infinite_amounts_are_400(gw, raw, hint):
    headers = {**ingest_headers(gw), "Content-Type": "application/json"}
    resp = await gw.client.post("/v1/events/purchase", data=raw, headers=headers)
    assert resp.status == 400 and hint in (await resp.json())["error"]


async def test_missing_amount_and_missing_token(gw):
    resp = await gw.client.post(
        "/v1/events/purchase", json={"user_id": "u"}, headers=ingest_headers(gw)
    )
    assert resp.status == 400 and "'amount' is required" in (await resp.json())["error"]
    resp = await gw.client.post("/v1/events/purchase", json=PURCHASE)
    assert resp.status == 401


async def test_redis_down_is_503_json(make_gateway):
    gw = await make_gateway(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    resp = await gw.client.post("/v1/events/purchase", json=PURCHASE, headers=ingest_headers(gw))
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"
    body = await resp.json()
    assert body == {"error": "event store unavailable; retry shortly"}
