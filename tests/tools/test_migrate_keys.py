"""`voltmart-migrate-keys` (tools/migrate_keys.py) on a real Redis: old per-user keys move
under their hash tag, values and expiry kept; a second run changes nothing; taken names are
not overwritten."""

from __future__ import annotations

import uuid

import pytest
import redis

from core.pseudonyms import pseudonym
from core.redis_keys import BUCKETS, UserKeys, bucket_active_key, bucket_of
from personalization.store import ProfileStore
from tools.migrate_keys import main, migrate

KEY = b"migration-test-pseudonym-key-0123456"


@pytest.fixture
def old_layout(redis_url):
    """A namespace written the way the services did before the hash tags."""
    ns = f"m{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(redis_url)
    for user in ("ann", "bo{b}:x"):
        client.hset(f"{ns}:profile:{user}", mapping={"segment": "tech_enthusiast"})
        client.hset(f"{ns}:consent:{user}", mapping={"status": "granted", "at": "1"})
        client.hset(f"{ns}:live:{user}", mapping={"messages": 3, "persona": "bargain_hunter"})
        client.expire(f"{ns}:live:{user}", 3600)
        client.hset(f"{ns}:live:{user}:ids", "1-1", 1)
    name = pseudonym("ann", KEY)
    client.hset(f"{ns}:seg:v1:b:{bucket_of(name)}", name, "seg-01")
    client.hset(f"{ns}:seg:v1:meta", "segments", '[{"id": "seg-01", "persona": "casual_browser"}]')
    client.set(f"{ns}:seg:active", "v1")
    yield client, ns
    keys = list(client.scan_iter(match=f"{ns}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.unlink(*keys[start : start + 1000])
    client.close()


async def test_old_keys_move_under_the_users_tag_and_the_store_finds_them(old_layout, redis_url):
    client, ns = old_layout
    keys = UserKeys(ns, KEY)

    counts = migrate(client, keys)

    assert counts["profile"] == 2 and counts["consent"] == 2 and counts["live"] == 4
    assert counts["segment_buckets"] == 1 and counts["active_copies"] == BUCKETS
    assert not client.exists(f"{ns}:profile:ann", f"{ns}:live:ann", f"{ns}:live:ann:ids")
    assert client.hget(keys.live("bo{b}:x"), "messages") == b"3"
    assert 3500 < client.ttl(keys.live("ann")) <= 3600  # expiry kept
    assert client.hget(keys.live_ids("ann"), "1-1") == b"1"
    assert client.get(bucket_active_key(ns, keys.bucket("ann"))) == b"v1"
    store = ProfileStore.from_url(redis_url, timeout=0.5, namespace=ns, pseudonym_key=KEY)
    record = await store.get_user("ann")
    assert (record.version, record.segment_id, record.persona) == ("v1", "seg-01", "casual_browser")
    assert record.profile == {b"segment": b"tech_enthusiast"} and record.consent == "granted"
    assert record.live_persona == "bargain_hunter"
    await store.close()

    again = migrate(client, keys)
    assert sum(n for kind, n in again.items() if kind != "active_copies") == 0  # idempotent


def test_a_taken_new_name_is_a_conflict_not_an_overwrite(old_layout):
    client, ns = old_layout
    keys = UserKeys(ns, KEY)
    client.hset(keys.profile("ann"), "segment", "written_after_the_upgrade")

    counts = migrate(client, keys)

    assert counts["conflicts"] == 1 and counts["profile"] == 1
    assert client.hget(keys.profile("ann"), "segment") == b"written_after_the_upgrade"
    assert client.exists(f"{ns}:profile:ann")  # kept for a person to compare


def test_the_command_reports_and_dry_run_changes_nothing(old_layout, redis_url, capsys):
    client, ns = old_layout
    env = {"PZ_PSEUDONYM_KEY": KEY.decode()}
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        mp.delenv("PZ_REDIS_CLUSTER", raising=False)
        assert main(["--redis-url", redis_url, "--namespace", ns, "--dry-run"]) == 0
        assert "would move 9 keys" in capsys.readouterr().out
        assert client.exists(f"{ns}:profile:ann")
        assert main(["--redis-url", redis_url, "--namespace", ns]) == 0
        assert "moved 9 keys" in capsys.readouterr().out
        mp.setenv("PZ_REDIS_CLUSTER", "1")
        mp.setenv("PZ_SHARED_REDIS_URL", redis_url)
        assert main(["--redis-url", redis_url, "--namespace", ns]) == 2
        assert capsys.readouterr().err.startswith("Error: migrate the standalone server")
