"""Several feature workers (voltmart-worker processes) on one Redis stream: they share it,
and what a killed one had taken but not acknowledged is claimed by the others."""

from __future__ import annotations

import signal
import time
import uuid

import redis

from realtime.stream import encode
from tests.realtime.test_kafka import grant, message, messages_of, scrape, stop, wait_until
from tests.servers import feature_worker, free_port


def redis_worker(name: str, redis_url: str, ns: str, port: int):
    return feature_worker(
        name,
        redis_url,
        *("--transport", "redis", "--stream", f"{ns}:events", "--namespace", ns),
        "--claim-idle-ms=1000",  # take over a dead peer's entries after 1 s (default 15 s)
        metrics_port=port,
    )


def add(client: redis.Redis, stream: str, events: list[dict]) -> None:
    with client.pipeline(transaction=False) as pipe:
        for event in events:
            pipe.xadd(stream, encode(event))
        pipe.execute()


def test_a_killed_redis_worker_leaves_nothing_behind(redis_url):
    ns = f"r{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    users = [f"r{i:02d}" for i in range(50)]
    grant(redis_url, ns, users)
    stream = f"{ns}:events"
    # What a worker killed mid-batch leaves behind, for certain: 100 entries read, never acked.
    client.xgroup_create(stream, "features", id="0", mkstream=True)
    add(client, stream, [message(u, s) for s in (0, 1) for u in users])
    taken = client.xreadgroup("features", "ghost", {stream: ">"}, count=100)
    assert len(taken[0][1]) == 100
    ports = [free_port(), free_port()]
    names = [f"rw{i}-{ns}" for i in range(2)]
    workers = [redis_worker(n, redis_url, ns, p) for n, p in zip(names, ports, strict=True)]
    try:
        wait_until(lambda: all(scrape(p) for p in ports), 60, "both workers' metrics")
        for seq in range(2, 60, 2):  # in small bursts, so both workers get batches
            add(client, stream, [message(u, s) for s in (seq, seq + 1) for u in users])
            time.sleep(0.02)
        wait_until(lambda: scrape(ports[1]).get("applied", 0) > 0, 60, "worker 2 at work")
        workers[1].send_signal(signal.SIGKILL)
        workers[1].wait(10)
        add(client, stream, [message(u, s) for s in range(60, 80) for u in users])
        wait_until(
            lambda: sum(messages_of(redis_url, ns, users).values()) >= 4000, 60, "4000 events"
        )
        time.sleep(1.5)
        assert set(messages_of(redis_url, ns, users).values()) == {80}
        pending = client.xpending(f"{ns}:events", "features")
        assert pending["pending"] == 0  # the dead worker's entries were claimed and acked
        assert scrape(ports[0])["applied"] > 0
    finally:
        stop(*workers)
        for key in client.scan_iter(match=f"{ns}:*", count=1000):
            client.unlink(key)
