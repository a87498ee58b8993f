"""The event stream on Redis and on Kafka, side by side: worker throughput with 1 and 2
worker processes, event-to-segment delay, and what Rasa's event broker costs a turn.

.venv/bin/python -m bench.streams [--events 50000 --users 5000]

Both transports run in one process tree on the same machine: a private Redis, the
project's Kafka-compatible broker (Tansu, memory storage), real voltmart-worker processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
import uuid

import redis
from confluent_kafka import Producer

from bench.common import percentile, write_result
from bench.realtime import message, publish_model
from core.redis_keys import UserKeys
from privacy.consent import GRANTED, consent_record
from rasa_ext.broker import RedisStreamBroker
from rasa_ext.kafka_broker import BufferedKafkaBroker
from realtime.kafka import ensure_topic, producer_config
from realtime.stream import encode, purchase_event
from tests.realtime.test_kafka import scrape, stop
from tests.servers import PSEUDONYM_KEY, ROOT, RedisServer, feature_worker, free_port, kafka_broker

KEYS = UserKeys("pz", PSEUDONYM_KEY.encode())  # the workers' key names (rasa_env)
PARTITIONS = 4


class Streams:
    def __init__(self, redis_server: RedisServer, broker) -> None:
        self.redis, self.broker = redis_server, broker
        self.db = redis.Redis.from_url(redis_server.url)

    def grant(self, users: list[str]) -> None:
        record = consent_record(GRANTED, "bench")
        with self.db.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.hset(KEYS.consent(user), mapping=record)
            pipe.execute()

    def workers(self, transport: str, run: str, count: int) -> tuple[list, list[int]]:
        ports = [free_port() for _ in range(count)]
        where = (
            ("--transport", "kafka", "--bootstrap", self.broker.bootstrap, "--topic", run)
            if transport == "kafka"
            else ("--transport", "redis", "--stream", f"pz:events:{run}")
        ) + ("--group", run)  # a group per run: nothing left over from the one before
        if transport == "kafka":
            ensure_topic(self.broker.bootstrap, run, PARTITIONS)
        procs = [
            feature_worker(f"bench-{run}-{i}", self.redis.url, *where, metrics_port=port)
            for i, port in enumerate(ports)
        ]
        deadline = time.monotonic() + 60
        while not all(scrape(p) for p in ports):
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start; see var/pytest/bench-*.log")
            time.sleep(0.2)
        if transport == "kafka":
            time.sleep(8)  # the group settles: each worker owns its partitions
        return procs, ports

    def send(self, transport: str, run: str, events: list[dict]) -> None:
        if transport == "kafka":
            producer = Producer(producer_config(self.broker.bootstrap))
            for event in events:
                producer.produce(run, json.dumps(event).encode(), key=event["sender_id"].encode())
                producer.poll(0)
            assert producer.flush(30) == 0
            return
        with self.db.pipeline(transaction=False) as pipe:
            for i, event in enumerate(events):
                pipe.xadd(f"pz:events:{run}", encode(event))
                if i % 5000 == 4999:
                    pipe.execute()
            pipe.execute()

    def throughput(self, transport: str, count: int, events: int, users: int) -> dict:
        run = f"tp{uuid.uuid4().hex[:6]}"
        names = [f"{run}u{i:05d}" for i in range(users)]
        self.grant(names)
        now = time.time()
        batch = [
            purchase_event(names[i % users], 50.0 + i % 500, "laptops", now)
            if i % 10 == 9
            else message(names[i % users], now + i * 0.001, i)
            for i in range(events)
        ]
        procs, ports = self.workers(transport, run, count)
        try:
            for proc in procs:  # the whole backlog is there when they start
                proc.send_signal(signal.SIGSTOP)
            self.send(transport, run, batch)
            started = time.perf_counter()
            for proc in procs:
                proc.send_signal(signal.SIGCONT)
            handled = 0.0
            while handled < events:
                time.sleep(0.05)
                seen = [scrape(p) for p in ports]
                handled = sum(v for s in seen for k, v in s.items() if k != "lag")
            seconds = time.perf_counter() - started
            shares = [s.get("applied", 0) for s in seen]
        finally:
            stop(*procs)
        return {
            "transport": transport,
            "workers": count,
            "events": events,
            "seconds": round(seconds, 2),
            "events_per_s": round(events / seconds),
            "applied_per_worker": shares,
        }

    def delay(self, transport: str, rate: float, seconds: float) -> dict:
        run = f"dl{uuid.uuid4().hex[:6]}"
        total = int(rate * seconds)
        names = [f"{run}u{i:05d}" for i in range(total)]
        self.grant(names)
        procs, _ = self.workers(transport, run, 1)
        producer = (
            Producer(producer_config(self.broker.bootstrap)) if transport == "kafka" else None
        )
        sent: dict[str, float] = {}
        try:
            start = time.perf_counter()
            for i, user in enumerate(names):
                wait = start + i / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                sent[user] = time.time()
                event = purchase_event(user, 300.0, "laptops", sent[user])
                if producer is not None:
                    producer.produce(run, json.dumps(event).encode(), key=user.encode())
                    producer.poll(0)
                else:
                    self.db.xadd(f"pz:events:{run}", encode(event))
            if producer is not None:
                producer.flush(10)
            time.sleep(2)
        finally:
            stop(*procs)
        delays = []
        for user, at in sent.items():
            stamp = self.db.hget(KEYS.live(user), "segment_at")
            if stamp:
                delays.append((float(stamp) - at) * 1000)
        return {
            "transport": transport,
            "events": total,
            "rate_per_s": rate,
            "updated": len(delays),
            "p50_ms": round(percentile(delays, 50), 1) if delays else None,
            "p99_ms": round(percentile(delays, 99), 1) if delays else None,
        }

    def turn_cost(self, turns: int = 2000) -> dict:
        """What publishing one turn's events costs inside the turn: six events (user,
        action, bot, slots), Redis broker vs Kafka broker, alternating turn by turn."""
        topic = "turns"
        ensure_topic(self.broker.bootstrap, topic, PARTITIONS)
        brokers = {
            "redis": RedisStreamBroker(redis.Redis.from_url(self.redis.url), "pz:events:turns"),
            "kafka": BufferedKafkaBroker(self.broker.bootstrap, topic=topic),
        }
        times: dict[str, list[float]] = {name: [] for name in brokers}
        for turn in range(turns):
            events = [message(f"turn{turn % 100}", time.time(), turn) for _ in range(6)]
            for name, broker in brokers.items():
                started = time.perf_counter()
                broker.publish_many(events)
                times[name].append((time.perf_counter() - started) * 1e6)
        asyncio.run(brokers["kafka"].close())
        out = {
            name: {"p50_us": round(percentile(t, 50), 1), "p99_us": round(percentile(t, 99), 1)}
            for name, t in times.items()
        }
        out["kafka_over_redis_p50"] = round(out["kafka"]["p50_us"] / out["redis"]["p50_us"], 2)
        out["turns"] = turns
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=5_000)
    parser.add_argument("--rate", type=float, default=200, help="purchases/s in the delay run")
    args = parser.parse_args(argv)
    redis_server = RedisServer("bench-streams").start()
    broker = kafka_broker("bench").start()
    try:
        publish_model(redis_server.admin_url)
        streams = Streams(redis_server, broker)
        runs = [
            streams.throughput(t, n, args.events, args.users)
            for n in (1, 2)
            for t in ("redis", "kafka")
        ]
        delays = [streams.delay(t, args.rate, 5) for t in ("redis", "kafka")]
        cost = streams.turn_cost()
    finally:
        broker.stop()
        redis_server.destroy()
    for run in runs:
        print(
            f"{run['transport']:5} {run['workers']} worker(s): {run['events_per_s']:,} events/s "
            f"({run['events']:,} events in {run['seconds']} s; split {run['applied_per_worker']})"
        )
    by = {(r["transport"], r["workers"]): r["events_per_s"] for r in runs}
    for t in ("redis", "kafka"):
        print(f"{t}: 2 workers / 1 worker = {by[(t, 2)] / by[(t, 1)]:.2f}x")
    print(f"kafka / redis with 1 worker = {by[('kafka', 1)] / by[('redis', 1)]:.2f}x")
    for d in delays:
        print(
            f"{d['transport']:5} event -> updated segment at {d['rate_per_s']:.0f}/s: "
            f"p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms ({d['updated']}/{d['events']})"
        )
    print(
        f"event broker inside a turn (6 events): redis p50 {cost['redis']['p50_us']} us, "
        f"kafka p50 {cost['kafka']['p50_us']} us ({cost['kafka_over_redis_p50']}x); "
        f"p99 {cost['redis']['p99_us']} / {cost['kafka']['p99_us']} us"
    )
    path = write_result(
        "streams",
        {"command": "python -m bench.streams", "throughput": runs, "delay": delays, "turn": cost},
    )
    print(f"written to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
