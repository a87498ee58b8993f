"""Real-time path: feature-worker throughput, event-to-segment delay, Redis memory per user.

.venv/bin/python -m bench.realtime [--events 100000 --users 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import redis
import redis.asyncio as aioredis

from bench.common import percentile, write_result
from core.redis_keys import UserKeys
from privacy.consent import GRANTED, consent_record
from realtime.processing import FeatureWorker
from realtime.sources import RedisStreamSource
from realtime.stream import encode, purchase_event
from segmentation.features import build_features
from segmentation.publish import publish
from segmentation.synthetic import make_dataset
from segmentation.train import train
from tests.servers import ROOT, RedisServer

INTENTS = ["ask_recommendation", "ask_deals", "ask_new_arrivals", "ask_specs", "greet"]


def message(user: str, ts: float, i: int) -> dict:
    return {
        "event": "user",
        "sender_id": user,
        "timestamp": ts,
        "text": "any deals today?",
        "parse_data": {"intent": {"name": INTENTS[i % 5]}, "entities": []},
        "input_channel": "rest",
        "metadata": {"timezone": "Europe/Berlin", "device": "mobile", "region": "DE"},
    }


def publish_model(url: str) -> None:
    tx, ev, _ = make_dataset(3000, random_state=1)
    features, _ = build_features(tx, ev)
    result = train(features, "kmeans", 5, random_state=0)
    publish(
        redis.Redis.from_url(url),
        result.assignments["user_id"].tolist(),
        result.assignments["segment"].tolist(),
        {"segments": result.meta["segments"]},
        result.spec,
    )


KEYS = UserKeys("pz", None)  # the worker below uses no pseudonym key either


def grant_consent(client: redis.Redis, users: list[str]) -> None:
    """The users said yes to personalization: the worker keeps live features only then."""
    record = consent_record(GRANTED, "bench")
    with client.pipeline(transaction=False) as pipe:
        for user in users:
            pipe.hset(KEYS.consent(user), mapping=record)
        pipe.execute()


async def throughput(url: str, events: int, users: int) -> dict:
    sync = redis.Redis.from_url(url)
    grant_consent(sync, [f"rt{i:06d}" for i in range(users)])
    now = time.time()
    with sync.pipeline(transaction=False) as pipe:
        for i in range(events):
            user = f"rt{i % users:06d}"
            event = (
                purchase_event(user, 50.0 + i % 500, "laptops", now)
                if i % 10 == 9
                else message(user, now + i * 0.001, i)
            )
            pipe.xadd("pz:events", encode(event))
            if i % 5000 == 4999:
                pipe.execute()
        pipe.execute()
    before = sync.info("memory")["used_memory"]
    client = aioredis.Redis.from_url(url)
    source = RedisStreamSource(client, "pz:events")
    await source.ensure_group()
    worker = FeatureWorker(source, client, "pz")
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(worker.run(stop, batch=1000, block_ms=50))
    while worker.handled < events:  # noqa: ASYNC110  (polling keeps the timed loop simple)
        await asyncio.sleep(0.005)
    seconds = time.perf_counter() - started
    stop.set()
    await task
    after = sync.info("memory")["used_memory"]
    await client.close()
    return {
        "events": events,
        "users": users,
        "seconds": round(seconds, 2),
        "events_per_s": round(events / seconds),
        "reassigned": worker.stats.reassigned,
        "redis_bytes_per_active_user": round((after - before) / users),
    }


async def delay(url: str, rate: float, seconds: float) -> dict:
    """Purchases at a steady rate while the worker runs; event time -> segment written."""
    client = aioredis.Redis.from_url(url)
    source = RedisStreamSource(client, "pz:events", consumer="w-delay")
    worker = FeatureWorker(source, client, "pz")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop, batch=500, block_ms=5))
    sent: dict[str, float] = {}
    total = int(rate * seconds)
    grant_consent(redis.Redis.from_url(url), [f"dl{i:06d}" for i in range(total)])
    start = time.perf_counter()
    for i in range(total):
        wait = start + i / rate - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        user = f"dl{i:06d}"
        sent[user] = time.time()
        await client.xadd("pz:events", encode(purchase_event(user, 300.0, "laptops", sent[user])))
    await asyncio.sleep(1.0)
    stop.set()
    await task
    delays = []
    for user, at in sent.items():
        stamp = await client.hget(KEYS.live(user), "segment_at")
        if stamp:
            delays.append((float(stamp) - at) * 1000)
    await client.close()
    return {
        "events": total,
        "rate_per_s": rate,
        "updated": len(delays),
        "p50_ms": round(percentile(delays, 50), 2),
        "p99_ms": round(percentile(delays, 99), 2),
        "max_ms": round(max(delays), 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=500, help="purchases/s in the delay run")
    args = parser.parse_args(argv)
    server = RedisServer("bench-rt").start()
    try:
        publish_model(server.url)
        tp = asyncio.run(throughput(server.admin_url, args.events, args.users))  # INFO: admin
        dl = asyncio.run(delay(server.url, args.rate, 10))
    finally:
        server.destroy()
    print(
        f"feature worker: {tp['events_per_s']:,} events/s ({tp['events']:,} events, "
        f"{tp['users']:,} users, {tp['reassigned']:,} re-assignments); target 10,000: "
        f"{'met' if tp['events_per_s'] >= 10_000 else 'NOT met'}"
    )
    print(
        f"event -> updated segment at {args.rate:.0f} purchases/s: p50 {dl['p50_ms']} ms, "
        f"p99 {dl['p99_ms']} ms ({dl['updated']}/{dl['events']} updated)"
    )
    print(
        f"Redis memory per active user (live features + dedup ids): "
        f"{tp['redis_bytes_per_active_user']} bytes"
    )
    path = write_result(
        "realtime",
        {
            "command": "python -m bench.realtime",
            "throughput": tp,
            "delay": dl,
            "target": {"events_per_s_min": 10_000, "met": tp["events_per_s"] >= 10_000},
        },
    )
    print(f"written to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
