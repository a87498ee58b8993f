"""Publishing to a real Redis: atomic switch, crash cleanup, rollback, retention, readers."""

from __future__ import annotations

import threading
import uuid

import pytest
import redis

from core.redis_keys import BUCKETS, LOOKUP_SCRIPT, UserKeys, bucket_of
from personalization.resolution import SOURCE_PUBLISHED, resolve_profile
from personalization.store import ProfileStore
from privacy.consent import GRANTED, record_consent
from segmentation.errors import PublishError
from segmentation.publish import (
    Keys,
    cleanup_stale,
    enforce_retention,
    list_versions,
    publish,
    rollback,
)

SPEC = {"preprocess": {}, "model": {"kind": "centroid"}, "segments": ["seg-01", "seg-02"]}
USERS = [f"user{i}" for i in range(3000)]


def meta(personas: dict[str, str]) -> dict:
    return {
        "algorithm": "kmeans",
        "segments": [{"id": k, "persona": v} for k, v in personas.items()],
    }


@pytest.fixture
def client(redis_url):
    return redis.Redis.from_url(redis_url)


@pytest.fixture
def keys(client):
    ns = f"t{uuid.uuid4().hex[:8]}"
    yield Keys(ns)
    keys = list(client.scan_iter(match=f"{ns}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.unlink(*keys[start : start + 1000])


def segment_of(client, keys, user):
    version = client.get(keys.active).decode()
    return client.hget(keys.bucket(version, bucket_of(user)), user).decode()


def test_publish_writes_every_user_and_activates(client, keys):
    summary = publish(
        client, USERS, ["seg-01"] * 3000, meta({"seg-01": "bargain_hunter"}), SPEC, keys
    )
    version = summary["version"]
    assert client.get(keys.active).decode() == version
    assert all(segment_of(client, keys, u) == "seg-01" for u in USERS[::97])
    # Every bucket has its copy of the active version, in the slot of its users' keys.
    copies = client.mget([keys.bucket_active(b) for b in range(BUCKETS)])
    assert set(copies) == {version.encode()}
    stored = {k.decode(): v.decode() for k, v in client.hgetall(keys.meta(version)).items()}
    assert stored["status"] == "complete" and stored["rows"] == "3000"
    assert stored["algorithm"] == "kmeans" and "created_at" in stored
    assert client.get(keys.model(version)) is not None
    assert [v["version"] for v in list_versions(client, keys)] == [version]


def test_a_failed_publish_leaves_the_old_version_active_and_is_cleaned_up(client, keys):
    old = publish(client, USERS, ["seg-01"] * 3000, meta({"seg-01": "default"}), SPEC, keys)[
        "version"
    ]

    def crash(chunk: int) -> None:
        if chunk == 3:
            raise RuntimeError("injected failure mid-publish")

    with pytest.raises(RuntimeError):
        publish(
            client,
            USERS,
            ["seg-02"] * 3000,
            meta({"seg-02": "default"}),
            SPEC,
            keys,
            version="vcrashed",
            on_chunk=crash,
        )
    assert client.get(keys.active).decode() == old
    assert all(segment_of(client, keys, u) == "seg-01" for u in USERS[::97])
    assert list(client.scan_iter(match=keys.pattern("vcrashed")))  # partial data is there

    summary = publish(client, USERS, ["seg-02"] * 3000, meta({"seg-02": "default"}), SPEC, keys)
    assert summary["cleaned_stale"] == ["vcrashed"]
    assert not list(client.scan_iter(match=keys.pattern("vcrashed")))
    assert client.smembers(keys.pending) == set()


def test_cleanup_never_touches_the_active_version(client, keys):
    version = publish(client, USERS[:10], ["seg-01"] * 10, meta({}), SPEC, keys)["version"]
    client.sadd(keys.pending, version)  # as if a crash hit between EXEC and SREM
    assert cleanup_stale(client, keys) == []
    assert segment_of(client, keys, USERS[0]) == "seg-01"


def test_rollback(client, keys):
    v1 = publish(client, USERS[:50], ["seg-01"] * 50, meta({}), SPEC, keys)["version"]
    v2 = publish(client, USERS[:50], ["seg-02"] * 50, meta({}), SPEC, keys)["version"]
    assert rollback(client, keys=keys) == v1
    assert segment_of(client, keys, USERS[0]) == "seg-01"
    assert rollback(client, to=v2, keys=keys) == v2
    with pytest.raises(PublishError, match="not a complete published version"):
        rollback(client, to="v-nope", keys=keys)
    rollback(client, to=v1, keys=keys)
    with pytest.raises(PublishError, match="no earlier version"):
        rollback(client, keys=keys)


def test_retention_keeps_the_newest_versions_and_deletes_the_rest(client, keys):
    versions = [
        publish(client, USERS[:200], ["seg-01"] * 200, meta({}), SPEC, keys, keep=2)["version"]
        for _ in range(4)
    ]
    kept = [v["version"] for v in list_versions(client, keys)]
    assert kept == versions[:-3:-1]
    for gone in versions[:2]:
        assert not list(client.scan_iter(match=keys.pattern(gone)))
    rollback(client, to=versions[2], keys=keys)
    assert enforce_retention(client, keys, keep=1) == []  # never deletes the active version


def test_bad_assignments_are_refused(client, keys):
    with pytest.raises(PublishError, match="duplicate user ids"):
        publish(client, ["a", "a"], ["seg-01", "seg-02"], meta({}), SPEC, keys)
    with pytest.raises(PublishError, match="differ in length"):
        publish(client, ["a"], [], meta({}), SPEC, keys)
    assert client.get(keys.active) is None


def test_readers_see_the_old_or_the_new_version_never_a_mix(client, keys, redis_url):
    publish(client, USERS, ["seg-01"] * 3000, meta({}), SPEC, keys)
    reader = redis.Redis.from_url(redis_url)
    script = reader.register_script(LOOKUP_SCRIPT)
    user_keys = UserKeys(keys.namespace)
    seen: list[tuple[bytes, bytes]] = []
    stop = threading.Event()

    def lookup(user: str, expected: str | None) -> list:
        return script(keys=user_keys.lookup(user, expected), args=[expected or "", user])

    def read() -> None:  # as the action server does: ask again when the version moved
        i, expected = 0, None
        while not stop.is_set():
            user = USERS[i % len(USERS)]
            reply = lookup(user, expected)
            if reply[0].decode() != expected:
                expected = reply[0].decode()
                reply = lookup(user, expected)
            seen.append((reply[0], reply[1]))
            i += 1

    thread = threading.Thread(target=read)
    thread.start()
    new = publish(client, USERS, ["seg-02"] * 3000, meta({}), SPEC, keys)["version"]
    stop.set()
    thread.join()
    by_version = {}
    for version, segment in seen:
        by_version.setdefault(version.decode(), set()).add(segment.decode())
    assert all(len(segments) == 1 for segments in by_version.values()), by_version
    assert by_version.get(new, {"seg-02"}) == {"seg-02"}


async def test_the_action_server_follows_the_active_version(client, keys, redis_url):
    store = ProfileStore.from_url(redis_url, timeout=0.5, namespace=keys.namespace)
    await store.put_profile("alice", {"favourite_category": "laptops"})
    await record_consent(store.client, keys.namespace, "alice", GRANTED)
    before = await resolve_profile(store, "alice")  # no model yet: no segment yet
    assert before.persona == "default" and not before.traits.placed

    v1 = publish(
        client,
        ["alice", "bob"],
        ["seg-01", "seg-02"],
        meta({"seg-01": "bargain_hunter"}),  # seg-02 has no persona
        SPEC,
        keys,
    )["version"]
    alice = await resolve_profile(store, "alice")
    assert (alice.persona, alice.source, alice.version) == ("bargain_hunter", SOURCE_PUBLISHED, v1)
    assert alice.profile.favourite_category == "laptops"  # profile fields still apply
    assert (await resolve_profile(store, "bob")).persona == "default"  # unlisted -> default

    publish(client, ["alice"], ["seg-03"], meta({"seg-03": "tech_enthusiast"}), SPEC, keys)
    assert (await resolve_profile(store, "alice")).persona == "tech_enthusiast"
    rollback(client, to=v1, keys=keys)
    assert (await resolve_profile(store, "alice")).persona == "bargain_hunter"
    await store.put_profile("alice", {"segment": "casual_browser"})  # the explicit override
    assert (await resolve_profile(store, "alice")).persona == "casual_browser"
    await store.close()
