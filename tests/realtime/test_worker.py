"""The feature worker against a real Redis: exact counts, replay after a crash, online segments.

Most tests switch the consent check off (require_consent=False) to look at one feature at a
time; test_only_consenting_users_get_live_features covers the check itself.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
import redis
import redis.asyncio as aioredis

from core.redis_keys import UserKeys
from personalization.resolution import SOURCE_LIVE, resolve_profile
from personalization.store import ProfileStore
from privacy.consent import GRANTED, record_consent
from rasa_ext.broker import RedisStreamBroker
from realtime.processing import FeatureWorker
from realtime.sources import RedisStreamSource
from realtime.stream import encode, purchase_event
from segmentation.publish import Keys, publish
from segmentation.train import train

BERLIN_MORNING = dt.datetime(2026, 1, 5, 7, 30, tzinfo=dt.UTC).timestamp()  # 08:30 local
BERLIN_EVENING = dt.datetime(2026, 1, 5, 19, 0, tzinfo=dt.UTC).timestamp()  # 20:00 local


def message(user, ts, intent="ask_deals", text="any deals?", channel="rest", device="mobile"):
    return {
        "event": "user",
        "sender_id": user,
        "timestamp": ts,
        "text": text,
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": []},
        "input_channel": channel,
        "metadata": {"timezone": "Europe/Berlin", "device": device, "region": "DE"},
    }


@pytest.fixture
async def env(redis_url):
    ns = f"w{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(redis_url)
    stream = f"{ns}:events"
    yield client, ns, stream
    keys = [key async for key in client.scan_iter(match=f"{ns}:*", count=1000)]
    for start in range(0, len(keys), 1000):
        await client.unlink(*keys[start : start + 1000])
    await client.close()


async def add(client, stream, *events):
    for event in events:
        await client.xadd(stream, encode(event))


async def drain(worker, source):
    while entries := await source.read(100, 50):
        await worker.process(entries)


async def live(client, ns, user):
    raw = await client.hgetall(UserKeys(ns).live(user))
    return {k.decode(): v.decode() for k, v in raw.items()}


async def test_live_features_are_exact(env):
    client, ns, stream = env
    await add(
        client,
        stream,
        {"event": "session_started", "sender_id": "ann", "timestamp": BERLIN_MORNING},
        message("ann", BERLIN_MORNING, "ask_deals", "great deals, love it"),
        message("ann", BERLIN_EVENING, "ask_specs", "terrible battery", "slack", "desktop"),
        purchase_event("ann", 100.0, "laptops", timestamp=BERLIN_EVENING),
        purchase_event("ann", 50.0, "headphones", timestamp=BERLIN_MORNING),
    )  # older: late
    source = RedisStreamSource(client, stream)
    await source.ensure_group()
    worker = FeatureWorker(source, client, ns, require_consent=False)
    await drain(worker, source)

    ann = await live(client, ns, "ann")
    assert (ann["messages"], ann["sessions"], ann["purchases"]) == ("2", "1", "2")
    assert ann["daypart_morning"] == "1" and ann["daypart_evening"] == "1"
    assert ann["intent_deals"] == "1" and ann["intent_specs"] == "1"
    assert ann["channel_web"] == "1" and ann["channel_other"] == "1"
    assert ann["device_mobile"] == "1" and ann["device_other"] == "1"
    assert float(ann["monetary"]) == 150.0
    assert float(ann["first_purchase"]) == BERLIN_MORNING  # out-of-order event handled
    assert float(ann["last_purchase"]) == BERLIN_EVENING
    assert float(ann["last_seen"]) == BERLIN_EVENING
    assert -1 < float(ann["sentiment_ema"]) < 1 and ann["region"] == "DE"
    assert worker.stats.applied == 5 and worker.stats.duplicates == 0


async def test_crash_after_apply_before_ack_replays_without_double_counting(env):
    client, ns, stream = env
    await add(
        client,
        stream,
        *[message("bob", BERLIN_MORNING + i) for i in range(10)],
        purchase_event("bob", 20.0, timestamp=BERLIN_MORNING),
    )
    source = RedisStreamSource(client, stream, consumer="w1")
    await source.ensure_group()
    crashed = FeatureWorker(source, client, ns, require_consent=False)

    async def no_ack(ids):  # the process dies between applying and acknowledging
        raise SystemExit("killed")

    source.ack = no_ack
    with pytest.raises(SystemExit):
        await crashed.process(await source.read(100, 50))
    assert (await client.xpending(stream, "features"))["pending"] == 11

    restarted_source = RedisStreamSource(client, stream, consumer="w1")
    restarted = FeatureWorker(restarted_source, client, ns, require_consent=False)
    await drain(restarted, restarted_source)

    bob = await live(client, ns, "bob")
    assert bob["messages"] == "10" and bob["purchases"] == "1" and float(bob["monetary"]) == 20
    assert restarted.stats.duplicates == 11 and restarted.stats.applied == 0
    assert (await client.xpending(stream, "features"))["pending"] == 0


async def test_crash_before_apply_replays_and_counts_once(env):
    client, ns, stream = env
    await add(client, stream, *[message("cat", BERLIN_MORNING + i) for i in range(4)])
    source = RedisStreamSource(client, stream, consumer="w1")
    await source.ensure_group()
    await source.read(100, 50)  # delivered, then the worker died before doing anything
    again = RedisStreamSource(client, stream, consumer="w1")
    worker = FeatureWorker(again, client, ns, require_consent=False)
    await drain(worker, again)
    assert (await live(client, ns, "cat"))["messages"] == "4"


async def test_abandoned_entries_of_a_dead_consumer_are_taken_over(env):
    client, ns, stream = env
    await add(client, stream, *[message("dan", BERLIN_MORNING + i) for i in range(3)])
    dead = RedisStreamSource(client, stream, consumer="dead")
    await dead.ensure_group()
    await dead.read(100, 50)
    other = RedisStreamSource(client, stream, consumer="w2", claim_idle_ms=0)
    worker = FeatureWorker(other, client, ns, require_consent=False)
    await drain(worker, other)
    assert (await live(client, ns, "dan"))["messages"] == "3"


async def test_bad_events_are_skipped_safely(env):
    client, ns, stream = env
    await client.xadd(stream, {"event": "{not json"})
    await client.xadd(stream, {"other": "field"})
    await add(
        client,
        stream,
        {"event": "user", "sender_id": None, "timestamp": 1.0},
        {"event": "purchase", "sender_id": "eve", "amount": -5, "timestamp": 1.0},
        {"event": "purchase", "sender_id": "eve", "amount": "NaN", "timestamp": 1.0},
        {"event": "bot", "sender_id": "eve", "timestamp": 1.0},
        message("never_seen_user", "not-a-time"),
    )
    source = RedisStreamSource(client, stream)
    await source.ensure_group()
    worker = FeatureWorker(source, client, ns, require_consent=False)
    await drain(worker, source)
    assert worker.stats.malformed == 2 and worker.stats.skipped == 4 and worker.stats.applied == 1
    assert await client.xlen(f"{ns}:events:dead") == 2
    assert (await live(client, ns, "never_seen_user"))["messages"] == "1"
    assert not await client.exists(UserKeys(ns).live("eve"))
    assert (await client.xpending(stream, "features"))["pending"] == 0


async def test_a_purchase_moves_the_user_to_a_new_segment_and_the_next_turn_sees_it(
    env, redis_url, planted
):
    client, ns, stream = env
    features, _ = planted
    result = train(features, "kmeans", 5, random_state=0)
    publish(
        redis.Redis.from_url(redis_url),
        result.assignments["user_id"].tolist(),
        result.assignments["segment"].tolist(),
        {"segments": result.meta["segments"]},
        result.spec,
        Keys(ns),
    )
    store = ProfileStore.from_url(redis_url, timeout=0.5, namespace=ns)
    await record_consent(client, ns, "fay", GRANTED, "web")  # the real consent path
    before = await resolve_profile(store, "fay")
    assert before.persona == "default"

    await add(  # enough chat to place a new visitor (MIN_CHAT_MESSAGES)
        client,
        stream,
        *[message("fay", BERLIN_MORNING + i, "ask_recommendation", "hi") for i in range(3)],
    )
    source = RedisStreamSource(client, stream)
    await source.ensure_group()
    worker = FeatureWorker(source, client, ns, reassign_interval_s=3600)
    await drain(worker, source)
    first = await live(client, ns, "fay")
    assert first["segment"] in result.spec["segments"]

    await add(
        client,
        stream,
        *[
            purchase_event("fay", 1800.0 + i, "laptops", timestamp=BERLIN_MORNING + i)
            for i in range(12)
        ],
    )
    await drain(worker, source)
    after = await live(client, ns, "fay")
    assert after["segment_reason"].startswith("purchase: ")
    assert after["persona"] == result.spec["personas"][after["segment"]]
    resolved = await resolve_profile(store, "fay")
    assert (resolved.source, resolved.persona) == (SOURCE_LIVE, after["persona"])
    assert after["segment"] != first["segment"]
    await store.close()


def test_rasa_broker_streams_events_and_survives_redis_down(redis_url):
    client = redis.Redis.from_url(redis_url)
    stream = f"b{uuid.uuid4().hex[:8]}:events"
    broker = RedisStreamBroker(client, stream)
    broker.publish({"event": "user", "sender_id": "gus", "text": "hi"})
    ((_, fields),) = client.xrange(stream)
    assert json.loads(fields[b"event"])["sender_id"] == "gus"
    client.delete(stream)

    down = RedisStreamBroker(redis.Redis(port=1, socket_connect_timeout=0.1), stream)
    down.publish({"event": "user", "sender_id": "gus"})  # no exception: the turn goes on
    assert down.failures == 0 and len(down.buffer) == 1  # kept for when Redis is back
    assert down.is_ready() is False


async def test_chat_alone_does_not_override_a_known_segment_but_a_purchase_does(
    env, redis_url, planted
):
    client, ns, stream = env
    features, _ = planted
    result = train(features, "kmeans", 5, random_state=0)
    publish(
        redis.Redis.from_url(redis_url),
        ["known"],
        [result.spec["segments"][0]],
        {"segments": result.meta["segments"]},
        result.spec,
        Keys(ns),
    )
    await client.hset(UserKeys(ns).profile("profiled"), mapping={"segment": "tech_enthusiast"})
    await add(
        client,
        stream,
        *[
            message(u, BERLIN_MORNING + i)
            for u in ("known", "profiled", "stranger")
            for i in range(3)
        ],
    )
    source = RedisStreamSource(client, stream)
    await source.ensure_group()
    worker = FeatureWorker(source, client, ns, reassign_interval_s=0, require_consent=False)
    await drain(worker, source)
    assert "segment" not in await live(client, ns, "known")
    assert "segment" not in await live(client, ns, "profiled")
    assert "segment" in await live(client, ns, "stranger")

    await add(client, stream, purchase_event("profiled", 999.0, timestamp=BERLIN_MORNING))
    await drain(worker, source)
    assert (await live(client, ns, "profiled"))["segment_reason"].startswith("purchase: ")


async def test_run_loop_prefetches_and_a_restart_replays_what_it_had_not_applied(env):
    import asyncio

    client, ns, stream = env
    await add(client, stream, *[message("ivy", BERLIN_MORNING + i) for i in range(30)])
    source = RedisStreamSource(client, stream, consumer="w1")
    await source.ensure_group()
    worker = FeatureWorker(source, client, ns, require_consent=False)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, batch=10, block_ms=20))
    while worker.handled < 10:  # noqa: ASYNC110
        await asyncio.sleep(0.001)
    stop.set()
    await task  # stops mid-stream; a prefetched batch may be delivered but not applied

    again = RedisStreamSource(client, stream, consumer="w1")
    restarted = FeatureWorker(again, client, ns, require_consent=False)
    stop = asyncio.Event()
    task = asyncio.create_task(restarted.run(stop, batch=10, block_ms=20))
    while int((await live(client, ns, "ivy")).get("messages", 0)) < 30:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    stop.set()
    await task
    assert (await live(client, ns, "ivy"))["messages"] == "30"
    assert (await client.xpending(stream, "features"))["pending"] == 0


async def test_a_live_key_of_the_wrong_type_is_dead_lettered_and_the_rest_applied(env):
    client, ns, stream = env
    await client.set(UserKeys(ns).live("broken"), "not a hash")
    await add(
        client,
        stream,
        message("ok_user", BERLIN_MORNING),
        message("broken", BERLIN_MORNING),
        message("ok_user", BERLIN_EVENING),
    )
    source = RedisStreamSource(client, stream)
    await source.ensure_group()
    worker = FeatureWorker(source, client, ns, require_consent=False)
    await drain(worker, source)
    assert (await live(client, ns, "ok_user"))["messages"] == "2"
    assert worker.stats.malformed == 1 and await client.xlen(f"{ns}:events:dead") == 1
    assert (await client.xpending(stream, "features"))["pending"] == 0


async def test_only_consenting_users_get_live_features(env):
    client, ns, stream = env
    await record_consent(client, ns, "yes", "granted", "rest")
    await record_consent(client, ns, "no", "denied", "rest")
    await record_consent(client, ns, "leaving", "granted", "rest")
    await client.set(UserKeys(ns).erasing("leaving"), 1, ex=60)
    await add(
        client,
        stream,
        *[message(user, BERLIN_MORNING) for user in ("yes", "no", "unasked", "leaving")],
        *[purchase_event(user, 10.0, timestamp=BERLIN_MORNING) for user in ("no", "unasked")],
    )
    source = RedisStreamSource(client, stream)
    await source.ensure_group()
    worker = FeatureWorker(source, client, ns)
    await drain(worker, source)

    assert (await live(client, ns, "yes"))["messages"] == "1"
    for user in ("no", "unasked", "leaving"):
        keys = UserKeys(ns)
        assert await client.exists(keys.live(user), keys.live_ids(user)) == 0, user
    assert worker.stats.applied == 1 and worker.stats.not_kept == 5
    assert (await client.xpending(stream, "features"))["pending"] == 0  # all acknowledged


async def test_a_redis_restart_that_forgot_the_script_loses_no_event(env):
    client, ns, stream = env
    source = RedisStreamSource(client, stream)
    await source.ensure_group()
    worker = FeatureWorker(source, client, ns, require_consent=False)
    await add(client, stream, message("ida", BERLIN_MORNING))
    await drain(worker, source)
    await client.script_flush()  # what a restart without persistence of scripts does
    await add(client, stream, message("ida", BERLIN_EVENING))
    await drain(worker, source)

    assert (await live(client, ns, "ida"))["messages"] == "2"
    assert worker.stats.malformed == 0 and await client.exists(f"{ns}:events:dead") == 0


async def test_a_new_visitor_is_placed_by_chat_once_there_is_enough_of_it(env, redis_url, planted):
    client, ns, stream = env
    features, _ = planted
    result = train(features, "kmeans", 5, random_state=0)
    publish(
        redis.Redis.from_url(redis_url),
        ["someone_else"],
        [result.spec["segments"][0]],
        {"segments": result.meta["segments"]},
        result.spec,
        Keys(ns),
    )
    source = RedisStreamSource(client, stream)
    await source.ensure_group()
    worker = FeatureWorker(source, client, ns, reassign_interval_s=0, require_consent=False)
    await add(client, stream, message("visitor", BERLIN_MORNING, intent="greet", text="hi"))
    await drain(worker, source)
    assert "segment" not in await live(client, ns, "visitor")  # a greeting says too little
    await add(client, stream, *[message("visitor", BERLIN_MORNING + i) for i in (1, 2)])
    await drain(worker, source)
    placed = await live(client, ns, "visitor")
    assert placed["segment"] in result.spec["segments"]
    assert placed["segment_reason"].startswith("message: none -> ")
