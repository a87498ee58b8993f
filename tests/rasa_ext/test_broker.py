"""The Redis stream broker against real Redis servers: what consent allows, the retention
period, and no event lost to an outage."""

from __future__ import annotations

import json
import time
import uuid

import redis
from prometheus_client import generate_latest

from core.redis_keys import UserKeys
from rasa_ext import broker as broker_module
from rasa_ext.broker import RedisStreamBroker
from tests.servers import RedisServer


def streamed(client: redis.Redis, stream: str) -> list[dict]:
    return [json.loads(fields[b"event"]) for _, fields in client.xrange(stream)]


def user_event(sender: str, text: str, **extra) -> dict:
    return {
        "event": "user",
        "sender_id": sender,
        "timestamp": time.time(),
        "text": text,
        "parse_data": {"text": text, "intent": {"name": "greet"}, "entities": []},
        "metadata": {"account": "a-1"},
        **extra,
    }


def test_without_consent_only_the_skeleton_is_streamed(redis_url):
    client = redis.Redis.from_url(redis_url)
    ns = f"b{uuid.uuid4().hex[:8]}"
    keys, stream = UserKeys(ns), f"{ns}:events"
    client.hset(keys.consent("yes"), "status", "granted")
    client.hset(keys.consent("no"), "status", "denied")
    broker = RedisStreamBroker(client, stream, keys=keys)
    try:
        broker.publish_many(
            [user_event("yes", "my card ends 4242"), user_event("no", "my card ends 4242")]
        )
        broker.publish(user_event("unknown", "call me on 0612345678"))
        by_sender = {e["sender_id"]: e for e in streamed(client, stream)}
        assert by_sender["yes"]["text"] == "my card ends 4242"
        assert set(by_sender["no"]) == {"event", "sender_id", "timestamp"}
        assert "0612345678" not in json.dumps(by_sender["unknown"])
        assert "pz_broker_redacted_events_total 2.0" in generate_latest(broker.metrics).decode()
    finally:
        client.delete(stream, keys.consent("yes"), keys.consent("no"))


def test_entries_older_than_the_retention_period_are_trimmed(redis_url):
    client = redis.Redis.from_url(redis_url)
    stream = f"r{uuid.uuid4().hex[:8]}:events"
    old_id = int((time.time() - 40 * 86400) * 1000)
    client.xadd(stream, {"event": "{}"}, id=f"{old_id}-0")  # written 40 days ago
    broker = RedisStreamBroker(client, stream, retention_s=30 * 86400)
    try:
        for n in range(3):
            broker.publish({"event": "bot", "sender_id": "x", "n": n})
        ids = [entry_id.decode() for entry_id, _ in client.xrange(stream)]
        assert f"{old_id}-0" not in ids and len(ids) == 3
    finally:
        client.delete(stream)


def test_events_wait_for_redis_and_go_out_in_order_when_it_is_back(monkeypatch):
    server = RedisServer(f"broker-{uuid.uuid4().hex[:6]}").start()
    admin = redis.Redis.from_url(server.admin_url)
    client = redis.Redis.from_url(server.url, socket_timeout=0.25, socket_connect_timeout=0.25)
    broker = RedisStreamBroker(client, "pz:events")
    try:
        broker.publish({"event": "bot", "sender_id": "x", "timestamp": 1, "n": 0})
        server.stop()
        for n in (1, 2, 3):
            broker.publish({"event": "bot", "sender_id": "x", "timestamp": 1, "n": n})
        assert len(broker.buffer) == 3 and broker.failures == 0
        server.start()
        time.sleep(1.05)  # the breaker's pause
        broker.publish({"event": "bot", "sender_id": "x", "timestamp": 1, "n": 4})
        assert [e["timestamp"] for e in streamed(admin, "pz:events")] == [1] * 5
        assert len(broker.buffer) == 0 and broker.failures == 0
    finally:
        server.destroy()


def test_a_full_buffer_counts_what_it_drops(monkeypatch):
    monkeypatch.setattr(broker_module, "BUFFER_MAX", 2)
    down = RedisStreamBroker(redis.Redis(port=1, socket_connect_timeout=0.1), "s")
    down.publish_many([{"event": "bot", "sender_id": "x", "n": n} for n in range(5)])
    assert len(down.buffer) == 2 and down.failures == 3
    assert [e["n"] for e in down.buffer] == [3, 4]  # the newest are kept
