"""A Redis restart keeps transactional writes: the project's Redis (scripts/redis.sh's ACL)
replays MULTI/EXEC from its append-only file. With the default user off, Redis 7.0 dropped
them silently (redis/redis#14541): the active segment version vanished at each restart."""

from __future__ import annotations

import os
import signal
import time
import uuid

import redis

from tests.servers import RedisServer


def test_transactions_survive_a_crash_and_restart():
    server = RedisServer(f"restart-{uuid.uuid4().hex[:6]}").start()
    try:
        client = redis.Redis.from_url(server.url)
        with client.pipeline(transaction=True) as pipe:
            pipe.set("pz:seg:active", "v1").hset("pz:profile:x", "segment", "seg-01").execute()
        client.set("plain", "1")
        time.sleep(1.2)  # appendfsync everysec
        os.kill(server.proc.pid, signal.SIGKILL)  # a crash, not a clean shutdown
        server.proc.wait(5)
        server.start()
        client = redis.Redis.from_url(server.url)
        assert client.get("plain") == b"1"
        assert client.get("pz:seg:active") == b"v1"
        assert client.hget("pz:profile:x", "segment") == b"seg-01"
        # The default user is still locked: no command without a password.
        anonymous = redis.Redis(port=server.port)
        try:
            anonymous.get("plain")
            raise AssertionError("the default user answered without a password")
        except redis.AuthenticationError:
            pass
    finally:
        server.destroy()
