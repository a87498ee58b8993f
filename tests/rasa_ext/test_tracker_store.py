"""The tracker store's save streams exactly the events Rasa's own way would, in one round trip."""

from __future__ import annotations

import json
import uuid

import pytest
import redis
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)

from core.redis_keys import UserKeys
from rasa_ext.broker import RedisStreamBroker
from tests.privacy.conftest import rasa_stores


def session(start: float, text: str) -> list:
    return [
        ActionExecuted("action_session_start", timestamp=start),
        SessionStarted(timestamp=start + 0.1),
        ActionExecuted("action_listen", timestamp=start + 0.2),
        *turn(start + 1, text),
    ]


def turn(at: float, text: str) -> list:
    return [
        UserUttered(text, {"name": "greet", "confidence": 0.9}, timestamp=at),
        SlotSet("segment", "bargain_hunter", timestamp=at + 0.1),
        ActionExecuted("utter_greet", timestamp=at + 0.2),
        BotUttered("Hello!", timestamp=at + 0.3),
        ActionExecuted("action_listen", timestamp=at + 0.4),
    ]


async def conversation(store, sender: str) -> list:
    """Saves as Rasa makes them: each turn works on what `retrieve` gave (the last session)
    plus the turn's events; the store keeps the earlier sessions. Returns every event."""
    steps = [session(1.0, "hi"), turn(10.0, "again"), session(100.0, "back"), turn(110.0, "more")]
    tracker = await store.get_or_create_tracker(sender, append_action_listen=False)
    for i, events in enumerate(steps):
        if i:
            tracker = await store.retrieve(sender)
        tracker.update_with_events(events, None, override_timestamp=False)
        await store.save(tracker)
    return [event for events in steps for event in events]


def streamed(client: redis.Redis, stream: str) -> list[dict]:
    return [json.loads(fields[b"event"]) for _, fields in client.xrange(stream)]


@pytest.mark.parametrize("speedups", ["1", "0"])
async def test_saves_stream_each_new_event_once_in_order_as_rasa_does(
    redis_url, monkeypatch, speedups
):
    monkeypatch.setenv("PZ_RASA_SPEEDUPS", speedups)
    client = redis.Redis.from_url(redis_url)
    namespace = f"t{uuid.uuid4().hex[:8]}"
    store, _ = rasa_stores(redis_url, namespace)
    store.event_broker = RedisStreamBroker(client, f"{namespace}:events")
    try:
        expected = await conversation(store, "ann")
        events = streamed(client, f"{namespace}:events")
        assert [e["sender_id"] for e in events] == ["ann"] * len(expected)
        assert [(e["event"], e["timestamp"]) for e in events] == [
            (x.as_dict()["event"], x.timestamp) for x in expected
        ]
        stored = await store.retrieve_full_tracker("ann")
        assert list(stored.events) == expected  # earlier sessions kept
        assert list((await store.retrieve("ann")).events) == expected[-13:]  # the last session
    finally:
        for key in client.scan_iter(match=f"{namespace}*"):
            client.unlink(key)


def test_one_round_trip_streams_a_whole_turn(redis_url):
    client = redis.Redis.from_url(redis_url)
    stream = f"s{uuid.uuid4().hex[:8]}:events"
    keys = UserKeys(stream.split(":")[0])
    client.hset(keys.consent("bo"), "status", "granted")  # content is streamed with consent
    broker = RedisStreamBroker(client, stream, keys=keys)
    trips = []
    real = broker.client.pipeline

    def counting_pipeline(*args, **kwargs):
        pipe = real(*args, **kwargs)
        execute = pipe.execute
        pipe.execute = lambda *a, **k: trips.append(len(pipe.command_stack)) or execute(*a, **k)
        return pipe

    broker.client.pipeline = counting_pipeline
    broker.publish_many([{"sender_id": "bo", "event": "bot", "n": i} for i in range(5)])
    assert trips == [1, 6]  # the consent lookup, then five XADDs and a trim in one trip
    assert [e["n"] for e in streamed(client, stream)] == list(range(5))
    broker.publish_many([{"sender_id": "bo", "bad": object()}, {"sender_id": "bo", "n": 5}])
    assert broker.failures == 1 and streamed(client, stream)[-1]["n"] == 5
    client.delete(stream, keys.consent("bo"))
