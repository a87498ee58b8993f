"""POST /v1/events/purchase and /v1/events/cart: CRM purchases and add-to-carts land on the
Redis event stream as the feature worker reads them (timestamps as unix seconds, whatever
form the CRM sent); bad bodies and a dead Redis give JSON errors, never a 500.
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


async def stream_events(gw, redis_url) -> list[dict]:
    redis = aioredis.Redis.from_url(redis_url)
    entries = await redis.xrange(gw.config.stream)
    await redis.close()
    return [json.loads(fields[b"event"]) for _, fields in entries]


CART = {
    "user_id": "user_tech",
    "product": "Voltbook Pro 14",
    "category": "laptops",
    "quantity": 2,
    "timestamp": "2026-11-30T14:05:00+01:00",
}
NOV_30_1305_UTC = 1796043900.0  # 2026-11-30T13:05:00Z


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2026-11-30T14:05:00+01:00", NOV_30_1305_UTC),
        ("2026-11-30T13:05:00Z", NOV_30_1305_UTC),
        ("2026-11-30t13:05:00z", NOV_30_1305_UTC),
        ("2026-11-30T08:05:00-0500", NOV_30_1305_UTC),
        ("2026-11-30 13:05:00+00:00", NOV_30_1305_UTC),
        ("2026-11-30T13:05:00.250Z", NOV_30_1305_UTC + 0.25),
        ("2026-11-30T13:05:00.123456789+00:00", NOV_30_1305_UTC + 0.123456),
        (NOV_30_1305_UTC, NOV_30_1305_UTC),
        (1796043900, NOV_30_1305_UTC),
        (0, 0.0),
    ],
)
@pytest.mark.parametrize("route", ["purchase", "cart"])
async def test_timestamps_crms_send_are_stored_as_unix_seconds(gw, redis_url, route, sent, stored):
    body = {**(PURCHASE if route == "purchase" else CART), "timestamp": sent}
    resp = await gw.client.post(f"/v1/events/{route}", json=body, headers=ingest_headers(gw))
    assert resp.status == 202, await resp.text()
    (event,) = await stream_events(gw, redis_url)
    assert event["timestamp"] == pytest.approx(stored, abs=1e-6)


@pytest.mark.parametrize(
    ("sent", "hint"),
    [
        ("2026-11-30T14:05:00", "no time zone"),  # naive: which 14:05?
        ("2026-11-30", "ISO 8601 with a zone"),  # a day is not a time
        ("yesterday", "ISO 8601"),
        ("1796043900", "ISO 8601"),  # seconds go as a number
        ("", "ISO 8601"),
        ("2026-11-30T13:05:00.1234567891Z", "ISO 8601"),
        ("\uff12\uff10\uff12\uff16-11-30T13:05:00Z", "ISO 8601"),  # full-width digits
        ("2026-11-30T13:05:00Z" + " " * 30, "ISO 8601"),
        ("2026-02-30T13:05:00Z", "not a valid date"),
        ("2026-11-30T13:05:00+25:00", "not a valid date"),
        ("1969-12-31T23:59:59Z", "between 1970-01-01 and 2100-01-01"),
        ("2100-01-01T00:00:01Z", "between 1970-01-01 and 2100-01-01"),
        (-1, "between 1970-01-01 and 2100-01-01"),
        (5e9, "between 1970-01-01 and 2100-01-01"),
        (10**400, "between 1970-01-01 and 2100-01-01"),
        (True, "unix seconds or ISO 8601"),
        (None, "unix seconds or ISO 8601"),
        ([2026, 11, 30], "unix seconds or ISO 8601"),
        ({"seconds": 1}, "unix seconds or ISO 8601"),
    ],
)
@pytest.mark.parametrize("route", ["purchase", "cart"])
async def test_bad_timestamps_are_one_line_400s_and_not_written(gw, redis_url, route, sent, hint):
    body = {**(PURCHASE if route == "purchase" else CART), "timestamp": sent}
    resp = await gw.client.post(f"/v1/events/{route}", json=body, headers=ingest_headers(gw))
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error.startswith("'timestamp' ") and hint in error and "\n" not in error
    assert await stream_events(gw, redis_url) == []


async def test_add_to_cart_is_written_to_the_stream(gw, redis_url):
    resp = await gw.client.post("/v1/events/cart", json=CART, headers=ingest_headers(gw))
    assert resp.status == 202
    event_id = (await resp.json())["event_id"]
    redis = aioredis.Redis.from_url(redis_url)
    ((entry_id, _),) = await redis.xrange(gw.config.stream)
    await redis.close()
    assert entry_id.decode() == event_id
    assert await stream_events(gw, redis_url) == [
        {
            "event": "add_to_cart",
            "sender_id": "user_tech",
            "timestamp": NOV_30_1305_UTC,
            "product": "Voltbook Pro 14",
            "category": "laptops",
            "quantity": 2,
        }
    ]


async def test_add_to_cart_optional_fields_default(gw, redis_url):
    before = time.time()
    resp = await gw.client.post(
        "/v1/events/cart", json={"user_id": "user_casual"}, headers=ingest_headers(gw)
    )
    assert resp.status == 202
    (event,) = await stream_events(gw, redis_url)
    assert (event["product"], event["category"], event["quantity"]) == ("", "", 1)
    assert before <= event["timestamp"] <= time.time()


@pytest.mark.parametrize(
    ("change", "hint"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -1}, "quantity"),
        ({"quantity": 10_001}, "quantity"),
        ({"quantity": 1.5}, "quantity"),
        ({"quantity": 2.0}, "quantity"),
        ({"quantity": "2"}, "quantity"),
        ({"quantity": True}, "quantity"),
        ({"user_id": ""}, "user_id"),
        ({"user_id": None}, "user_id"),
        ({"product": "p" * 129}, "product"),
        ({"product": "a\u0000b"}, "control"),
        ({"category": ["laptops"]}, "category"),
        ({"order_id": "ord-1"}, "unknown field"),
        ({"amount": 10}, "unknown field"),
    ],
)
async def test_invalid_add_to_carts_are_400_and_not_written(gw, redis_url, change, hint):
    resp = await gw.client.post(
        "/v1/events/cart", json={**CART, **change}, headers=ingest_headers(gw)
    )
    assert resp.status == 400
    assert hint in (await resp.json())["error"]
    assert await stream_events(gw, redis_url) == []


async def test_add_to_cart_needs_an_ingest_token_and_a_user(gw):
    resp = await gw.client.post("/v1/events/cart", json={"quantity": 1}, headers=ingest_headers(gw))
    assert resp.status == 400 and "'user_id' is required" in (await resp.json())["error"]
    resp = await gw.client.post("/v1/events/cart", json=CART)
    assert resp.status == 401
    resp = await gw.client.post("/v1/events/cart", json=CART, headers=gw.bearer("user_tech"))
    assert resp.status == 403  # a chat token cannot ingest


async def test_add_to_cart_shares_the_clients_ingest_limit(make_gateway):
    from gateway.config import RateLimit

    gw = await make_gateway(ingest_rate=RateLimit(2, 60))
    headers = ingest_headers(gw)
    statuses = [
        (await gw.client.post(f"/v1/events/{route}", json=body, headers=headers)).status
        for route, body in (("purchase", PURCHASE), ("cart", CART), ("cart", CART))
    ]
    assert statuses == [202, 202, 429]


async def test_add_to_cart_with_redis_down_is_503_json(make_gateway):
    gw = await make_gateway(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    resp = await gw.client.post("/v1/events/cart", json=CART, headers=ingest_headers(gw))
    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
    assert await resp.json() == {"error": "event store unavailable; retry shortly"}
