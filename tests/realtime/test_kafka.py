"""The event stream on the real Kafka-compatible broker (Tansu, scripts/install_kafka.sh) with
real feature workers (voltmart-worker processes) and a real Redis: partitions shared, a
worker killed mid-stream, the broker restarted under Rasa's producer, bad records.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import urllib.request
import uuid

import pytest
import redis
from confluent_kafka import Consumer, Producer

from core.redis_keys import UserKeys
from privacy.consent import GRANTED, consent_record
from rasa_ext.kafka_broker import BufferedKafkaBroker
from realtime.kafka import (
    KafkaSink,
    KafkaSource,
    KafkaUnavailable,
    consumer_config,
    ensure_topic,
    producer_config,
)
from realtime.processing import FeatureWorker
from realtime.sources import MAX_EVENT_BYTES
from tests.servers import PSEUDONYM_KEY, VAR, feature_worker, free_port, kafka_broker

KEY = PSEUDONYM_KEY.encode()  # the workers' key (rasa_env): it names the users' keys


def message(user: str, seq: int) -> dict:
    return {
        "event": "user",
        "sender_id": user,
        "timestamp": 1_780_000_000.0 + seq,
        "text": "any deals?",
        "seq": seq,
        "parse_data": {"intent": {"name": "ask_deals"}, "entities": []},
        "input_channel": "rest",
    }


@pytest.fixture(scope="module")
def broker():
    server = kafka_broker("realtime").start()
    yield server
    server.stop()


@pytest.fixture
def topic(broker) -> str:
    name = f"t{uuid.uuid4().hex[:8]}"
    assert ensure_topic(broker.bootstrap, name, 4) == 4
    return name


@pytest.fixture
def ns(redis_url):
    namespace = f"k{uuid.uuid4().hex[:8]}"
    yield namespace
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.unlink(*keys[start : start + 1000])


def grant(redis_url: str, ns: str, users: list[str]) -> None:
    client, keys = redis.Redis.from_url(redis_url), UserKeys(ns, KEY)
    for user in users:
        client.hset(keys.consent(user), mapping=consent_record(GRANTED, "test"))


def produce(bootstrap: str, topic: str, events: list[dict]) -> None:
    producer = Producer(producer_config(bootstrap))
    for event in events:
        producer.produce(topic, json.dumps(event).encode(), key=event["sender_id"].encode())
    assert producer.flush(15) == 0


def messages_of(redis_url: str, ns: str, users: list[str]) -> dict[str, int]:
    client, keys = redis.Redis.from_url(redis_url), UserKeys(ns, KEY)
    with client.pipeline(transaction=False) as pipe:
        for user in users:
            pipe.hget(keys.live(user), "messages")
        return {u: int(v or 0) for u, v in zip(users, pipe.execute(), strict=True)}


def wait_until(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached within {seconds:.0f} s")


def scrape(port: int) -> dict[str, float]:
    """The worker's Prometheus metrics: 'applied', 'duplicates', ..., 'lag'."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        if line.startswith("pz_worker_events_total{"):
            outcome = line.split('outcome="')[1].split('"')[0]
            found[outcome] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("pz_worker_consumer_lag{"):
            found["lag"] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("pz_worker_partitions{"):
            found["partitions"] = float(line.rsplit(" ", 1)[1])
    return found


def sharing(ports: list[int], partitions: int = 4):
    """Every worker holds some of the topic's partitions, and together all of them (the
    group has settled: a fixed sleep lost this race on a busy machine)."""
    held = [scrape(p).get("partitions", 0) for p in ports]
    return min(held) > 0 and sum(held) == partitions


def kafka_worker(name, redis_url, broker, topic, ns, port, group=None):
    # A group of its own per test: Tansu left the next test's workers of a reused group
    # without partitions for 90 s after the previous test's workers had left it (CI).
    group = group or f"features-{ns}"
    return feature_worker(
        name,
        redis_url,
        *("--transport", "kafka", "--bootstrap", broker.bootstrap, "--topic", topic),
        *("--namespace", ns, "--group", group),
        metrics_port=port,
    )


def stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_two_workers_share_the_partitions_and_count_every_event_once(broker, topic, ns, redis_url):
    users = [f"k{i:02d}" for i in range(40)]
    grant(redis_url, ns, users)
    ports = [free_port(), free_port()]
    workers = [
        kafka_worker(f"kw{i}-{ns}", redis_url, broker, topic, ns, port)
        for i, port in enumerate(ports)
    ]
    try:
        wait_until(lambda: sharing(ports), 90, "both workers sharing the four partitions")
        produce(broker.bootstrap, topic, [message(u, s) for s in range(25) for u in users])
        wait_until(
            lambda: sum(messages_of(redis_url, ns, users).values()) >= 1000, 60, "1000 events"
        )
        time.sleep(1)
        assert set(messages_of(redis_url, ns, users).values()) == {25}
        applied = [scrape(p)["applied"] for p in ports]
        assert sum(applied) == 1000 and min(applied) > 0, applied  # both had partitions
    finally:
        stop(*workers)


def test_a_worker_killed_mid_stream_loses_nothing_and_counts_nothing_twice(
    broker, topic, ns, redis_url
):
    users = [f"m{i:02d}" for i in range(60)]
    grant(redis_url, ns, users)
    ports = [free_port(), free_port()]
    names = [f"kk{i}-{ns}" for i in range(2)]
    workers = [
        kafka_worker(n, redis_url, broker, topic, ns, p) for n, p in zip(names, ports, strict=True)
    ]
    try:
        wait_until(lambda: sharing(ports), 90, "both workers sharing the four partitions")
        produce(broker.bootstrap, topic, [message(u, s) for s in range(40) for u in users])
        wait_until(lambda: scrape(ports[1]).get("applied", 0) > 0, 60, "worker 2 at work")
        workers[1].send_signal(signal.SIGKILL)  # mid-stream: no commit, no leaving the group
        workers[1].wait(10)
        produce(broker.bootstrap, topic, [message(u, s) for s in range(40, 60) for u in users])
        wait_until(  # its partitions moved to worker 1 (session timeout 10 s)
            lambda: sum(messages_of(redis_url, ns, users).values()) >= 3600, 90, "3600 events"
        )
        workers[1] = kafka_worker(names[1], redis_url, broker, topic, ns, ports[1])
        # Rejoined: resumes from the committed offsets.
        wait_until(lambda: sharing(ports), 90, "the restarted worker sharing the partitions")
        produce(broker.bootstrap, topic, [message(u, s) for s in range(60, 70) for u in users])
        wait_until(
            lambda: sum(messages_of(redis_url, ns, users).values()) >= 4200, 90, "4200 events"
        )
        time.sleep(1)
        assert set(messages_of(redis_url, ns, users).values()) == {70}  # exact, per user
    finally:
        stop(*workers)


def test_rasa_events_wait_while_the_broker_is_down_and_go_out_in_order(ns):
    port = free_port()
    server = kafka_broker(f"restart-{ns}")
    server.port = port
    server.start()
    ensure_topic(server.bootstrap, "rasa_events", 2)
    producer = BufferedKafkaBroker(server.bootstrap, topic="rasa_events", queue_size=50)
    try:
        producer.publish_many([message("ann", s) for s in range(10)])
        wait_until(lambda: producer.delivered == 10, 20, "the first 10 delivered")
        server.kill()
        started = time.monotonic()
        producer.publish_many([message("ann", s) for s in range(10, 70)])  # 60 into 50 places
        assert time.monotonic() - started < 2  # a turn never waits for the broker
        assert producer.overflow == 10 and producer.queued == 50 and producer.failed == 0
        time.sleep(2)
        server.start()  # memory storage: the broker is back empty
        ensure_topic(server.bootstrap, "rasa_events", 2)
        wait_until(lambda: producer.queued == 0, 30, "the buffered events delivered")
        consumer = Consumer(consumer_config(server.bootstrap, f"read-{ns}", "reader"))
        consumer.subscribe(["rasa_events"])
        seen: list[int] = []
        deadline = time.monotonic() + 30
        while len(seen) < 50 and time.monotonic() < deadline:
            seen += [json.loads(m.value())["seq"] for m in consumer.consume(100, 0.5)]
        consumer.close()
        assert seen == list(range(10, 60))  # in order; the 10 that overflowed were counted
        assert producer.delivered == 60 and producer.failed == 0
    finally:
        asyncio.run(producer.close())
        server.stop()


async def test_an_event_the_producer_refuses_costs_that_event_not_the_turn(broker, topic):
    producer = BufferedKafkaBroker(broker.bootstrap, topic=topic)
    try:
        huge = {**message("ann", 1), "text": "x" * 2_000_000}  # over librdkafka's 1 MB limit
        producer.publish_many([message("ann", 0), huge, message("ann", 2)])  # must not raise
        assert producer.overflow == 1
        wait_until(lambda: producer.delivered == 2, 20, "the two other events delivered")
        assert producer.failed == 0
    finally:
        await producer.close()


async def test_bad_records_go_to_dead_letters_and_the_stream_goes_on(broker, topic, ns, redis_url):
    import redis.asyncio as aioredis

    raw = Producer(producer_config(broker.bootstrap))
    for value in (b"{not json", b"[1, 2]", json.dumps({"pad": "x" * MAX_EVENT_BYTES}).encode()):
        raw.produce(topic, value, key=b"bad")
    raw.produce(topic, json.dumps(message("ok", 1)).encode(), key=b"ok")
    assert raw.flush(10) == 0
    client = aioredis.Redis.from_url(redis_url)
    source = KafkaSource.create(broker.bootstrap, topic, f"dl-{ns}", "dl")
    worker = FeatureWorker(source, client, ns, require_consent=False, pseudonym_key=KEY)
    try:
        deadline = time.monotonic() + 30
        while worker.handled < 4 and time.monotonic() < deadline:
            entries = await source.read(100, 500)
            if entries:
                await worker.process(entries)
        dead = await client.xrange(f"{ns}:events:dead")
        reasons = sorted(fields[b"reason"].decode() for _, fields in dead)
        assert reasons[0] == "not a JSON event" and reasons[1] == "not a JSON object"
        assert reasons[2].startswith(f"over {MAX_EVENT_BYTES} bytes")
        assert worker.stats.malformed == 3 and worker.stats.applied == 1
        assert (await client.hget(UserKeys(ns, KEY).live("ok"), "messages")) == b"1"
        assert source.commit_failures == 0
    finally:
        source.close()
        await client.close()


def test_a_topic_that_does_not_exist_is_one_clear_line(broker, redis_url):
    proc = feature_worker(
        "kafka-missing",
        redis_url,
        *("--transport", "kafka", "--bootstrap", broker.bootstrap, "--topic", "no_such_topic"),
    )
    assert proc.wait(60) == 2
    log = (VAR / "kafka-missing.log").read_text().strip().splitlines()
    assert log[-1].startswith("Error: topic 'no_such_topic' does not exist on the Kafka broker")
    assert "realtime.kafka_server topic --topic no_such_topic" in log[-1]


def test_a_broker_that_is_not_running_is_one_clear_line(redis_url):
    proc = feature_worker(
        "kafka-down",
        redis_url,
        *("--transport", "kafka", "--bootstrap", f"127.0.0.1:{free_port()}"),
    )
    assert proc.wait(60) == 2
    last = (VAR / "kafka-down.log").read_text().strip().splitlines()[-1]
    assert last.startswith("Error: Kafka broker 127.0.0.1:") and "unreachable" in last


async def test_consumer_lag_counts_what_the_worker_has_not_read(broker, topic, ns):
    produce(broker.bootstrap, topic, [message("lag", s) for s in range(100)])  # one partition
    source = KafkaSource.create(broker.bootstrap, topic, f"lag-{ns}", "lag", stats_interval_ms=200)
    try:
        read = []
        deadline = time.monotonic() + 30
        while not read and time.monotonic() < deadline:
            read = await source.read(30, 500)
        await asyncio.sleep(1)  # a statistics report with the partition's high watermark
        read += await source.read(1, 100)  # serves it (and may read one more)
        assert await source.lag() == 100 - len(read)
    finally:
        source.close()


async def test_gateway_ingest_answers_with_the_record_or_a_clear_refusal():
    server = kafka_broker("ingest").start()
    ensure_topic(server.bootstrap, "ingest", 2)
    sink = KafkaSink(server.bootstrap, "ingest")
    try:
        first = await sink.publish({"event": "purchase", "sender_id": "ann", "amount": 5.0})
        assert first.startswith("ingest:") and first.endswith(":0")
        server.kill()
        started = time.monotonic()
        with pytest.raises(KafkaUnavailable):
            await sink.publish({"event": "purchase", "sender_id": "ann", "amount": 6.0})
        assert time.monotonic() - started < 5  # the gateway answers 503, it does not hang
    finally:
        sink.close()
        server.stop()


async def test_a_worker_reads_on_after_the_broker_restarts_empty(ns):
    server = kafka_broker(f"reader-{ns}")
    server.start()
    ensure_topic(server.bootstrap, "events", 2)
    produce(server.bootstrap, "events", [message("ann", s) for s in range(20)])
    source = KafkaSource.create(server.bootstrap, "events", f"g-{ns}", "reader")

    async def read(count: int) -> list:
        got: list = []
        deadline = time.monotonic() + 30
        while len(got) < count and time.monotonic() < deadline:
            entries = await source.read(100, 500)
            await source.ack([eid for eid, _ in entries])
            got += entries
        return got

    try:
        before = await read(20)
        server.kill()
        server.start()  # memory storage: no topic, no records, no committed offsets
        ensure_topic(server.bootstrap, "events", 2)
        produce(server.bootstrap, "events", [message("ann", s) for s in range(100, 105)])
        after = await read(5)
        assert [e["seq"] for _, e in after] == list(range(100, 105))  # from the new log's start
        assert not {eid for eid, _ in before} & {eid for eid, _ in after}  # ids never reused
    finally:
        source.close()
        server.stop()
