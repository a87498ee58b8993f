"""The segment and feature stores on a real three-node Redis Cluster: one user, one slot,
one round trip per lookup; publishing, rollback, the feature worker and erasure."""

from __future__ import annotations

import redis.asyncio as aioredis
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from core.pseudonyms import pseudonym
from core.redis_keys import BUCKETS, UserKeys, bucket_active_key
from personalization.resolution import SOURCE_LIVE, resolve_profile
from personalization.store import ProfileStore
from privacy.audit import find_traces
from privacy.consent import GRANTED, record_consent
from privacy.erasure import Eraser
from privacy.export import export_user
from realtime.processing import FeatureWorker
from realtime.sources import RedisStreamSource
from realtime.stream import encode, purchase_event
from segmentation.publish import Keys, publish, rollback
from segmentation.train import train
from tests.cluster.conftest import KEY
from tests.privacy.conftest import rasa_stores

USERS = [f"user-{i}" for i in range(600)]
SEGMENTS = {"seg-01": "bargain_hunter", "seg-02": "tech_enthusiast", "seg-03": "casual_browser"}
SPEC = {"preprocess": {}, "model": {"kind": "centroid"}, "segments": list(SEGMENTS)}


def meta(personas: dict[str, str]) -> dict:
    return {"segments": [{"id": k, "persona": v} for k, v in personas.items()]}


def segment_for(i: int) -> str:
    return list(SEGMENTS)[i % len(SEGMENTS)]


def publish_users(client, ns: str, users=USERS, segments=None, personas=SEGMENTS) -> str:
    """Publish as retrain does: pseudonyms only."""
    segments = segments or [segment_for(i) for i in range(len(users))]
    names = [pseudonym(u, KEY) for u in users]
    return publish(client, names, segments, meta(personas), SPEC, Keys(ns))["version"]


def store_for(cluster, ns: str, redis_url: str) -> ProfileStore:
    options = dict(namespace=ns, pseudonym_key=KEY, cluster=True, shared_url=redis_url)
    return ProfileStore.from_url(cluster.url, timeout=2.0, **options)


def test_all_of_a_users_keys_map_to_one_slot_and_users_spread_over_every_node(cluster):
    keys = UserKeys("pz", KEY)
    with cluster._admin(cluster.ports[0]) as node:
        for user in [*USERS[:50], "a{b}c", "{}", "x:{1}"]:
            names = [
                keys.profile(user),
                keys.consent(user),
                keys.live(user),
                keys.live_ids(user),
                keys.erasing(user),
                keys.active(user),
                keys.segment(user, "v20260101T000000Z-abcd"),
            ]
            slots = {node.cluster("KEYSLOT", name) for name in names}
            assert len(slots) == 1, (user, names, slots)
    assert {cluster.node_of(keys.profile(u)) for u in USERS[:60]} == set(cluster.ports)


async def test_publish_and_lookup_give_each_user_their_segment_on_every_node(
    cluster, cc, sync_cc, ns, redis_url
):
    version = publish_users(sync_cc, ns)
    store = store_for(cluster, ns, redis_url)
    sample = USERS[::7]
    for user in sample[:20]:
        await store.put_profile(user, {"segment": "new_visitor", "favourite_category": "laptops"})
        await record_consent(cc, ns, user, GRANTED, "rest", KEY)
    for n, user in enumerate(sample):
        record = await store.get_user(user)
        i = USERS.index(user)
        assert (record.version, record.segment_id) == (version, segment_for(i)), user
        assert record.persona == SEGMENTS[segment_for(i)]
        if n < 20:
            assert record.profile[b"favourite_category"] == b"laptops"
            assert record.consent == GRANTED
    assert await store.get_user("nobody-published") is not None
    nodes = {cluster.node_of(store.keys.profile(u)) for u in sample}
    assert nodes == set(cluster.ports)  # the sample really spans the three nodes
    # Every bucket's copy of the active version is on the node of that bucket's users.
    copies = await cc.mget_nonatomic(*(bucket_active_key(ns, b) for b in range(0, BUCKETS, 97)))
    assert set(copies) == {version.encode()}
    await store.close()


async def test_a_lookup_is_one_command_on_the_users_node(cluster, sync_cc, ns, redis_url):
    publish_users(sync_cc, ns)
    store = store_for(cluster, ns, redis_url)
    users = USERS[:40]
    await store.get_user(users[0])  # learns the active version and its personas once
    expected: dict[int, int] = {}
    for user in users:
        port = cluster.node_of(store.keys.profile(user))
        expected[port] = expected.get(port, 0) + 1
    sent: list[str] = []
    execute = store.client.execute_command

    async def counting(*args, **kwargs):
        sent.append(str(args[0]))
        return await execute(*args, **kwargs)

    store.client.execute_command = counting
    cluster.reset_stats()
    for user in users:
        assert (await store.get_user(user)).persona
    counts = cluster.command_counts()

    assert sent == ["EVALSHA"] * len(users)  # the client sent one command per lookup
    seen = {
        port: {cmd: n for cmd, n in per_node.items() if cmd not in ("auth", "config|resetstat")}
        for port, per_node in counts.items()
    }
    # ... and each ran as one script on the user's node, every read inside it on that node
    # (commandstats counts a script's own calls too: the version, the segment, profile,
    # live features and consent).
    assert seen == {
        port: {"evalsha": n, "get": n, "hget": 2 * n, "hgetall": n, "hmget": n}
        for port, n in expected.items()
    }, seen
    await store.close()


async def test_rollback_switches_the_version_lookups_see(cluster, cc, sync_cc, ns, redis_url):
    store = store_for(cluster, ns, redis_url)
    users = USERS[:30]
    v1 = publish_users(sync_cc, ns, users, ["seg-01"] * len(users))
    v2 = publish_users(sync_cc, ns, users, ["seg-02"] * len(users))
    assert {(await store.get_user(u)).version for u in users} == {v2}
    assert {(await store.get_user(u)).persona for u in users} == {"tech_enthusiast"}

    assert rollback(sync_cc, to=v1, keys=Keys(ns)) == v1

    assert {(await store.get_user(u)).version for u in users} == {v1}
    assert {(await store.get_user(u)).persona for u in users} == {"bargain_hunter"}
    copies = await cc.mget_nonatomic(*(bucket_active_key(ns, b) for b in range(0, BUCKETS, 61)))
    assert set(copies) == {v1.encode()}
    await store.close()


def message(user: str, ts: float, text: str = "any deals?") -> dict:
    return {
        "event": "user",
        "sender_id": user,
        "timestamp": ts,
        "text": text,
        "parse_data": {"intent": {"name": "ask_deals", "confidence": 0.9}, "entities": []},
        "input_channel": "rest",
        "metadata": {"timezone": "Europe/Berlin", "device": "mobile", "region": "DE"},
    }


async def drain(worker, source) -> None:
    while entries := await source.read(200, 50):
        await worker.process(entries)


async def test_the_feature_worker_applies_events_on_the_cluster(
    cluster, cc, sync_cc, shared, ns, redis_url, planted
):
    features, _ = planted
    result = train(features, "kmeans", 5, random_state=0)
    publish(
        sync_cc,
        result.assignments["user_id"].tolist(),
        result.assignments["segment"].tolist(),
        {"segments": result.meta["segments"]},
        result.spec,
        Keys(ns),
    )
    users = USERS[:60]
    for user in users[:50]:  # the last ten never answered: nothing may be kept for them
        await record_consent(cc, ns, user, GRANTED, "rest", KEY)
    stream = f"{ns}:events"
    for n in range(3):
        for user in users:
            await shared.xadd(stream, encode(message(user, 1.7e9 + n)))
    source = RedisStreamSource(shared, stream)  # the stream stays on the standalone Redis
    await source.ensure_group()
    worker = FeatureWorker(source, cc, ns, reassign_interval_s=3600, pseudonym_key=KEY)
    assert worker.per_tag
    await drain(worker, source)

    # A node restarted without its scripts: the worker reloads on every node, loses nothing.
    with cluster._admin(cluster.node_of(worker.keys.live(users[0]))) as node:
        node.script_flush()
    for user in users:
        await shared.xadd(stream, encode(purchase_event(user, 1500.0, "laptops", 1.7e9 + 9)))
    await drain(worker, source)

    keys = UserKeys(ns, KEY)
    for user in users[:50]:
        live = await cc.hgetall(keys.live(user))
        assert (live[b"messages"], live[b"purchases"]) == (b"3", b"1"), user
        assert live[b"segment"] in {s.encode() for s in result.spec["segments"]}  # online
    for user in users[50:]:
        assert await cc.exists(keys.live(user), keys.live_ids(user)) == 0
    assert worker.stats.applied == 200 and worker.stats.not_kept == 40
    assert worker.stats.malformed == 0
    assert {cluster.node_of(keys.live(u)) for u in users} == set(cluster.ports)
    store = store_for(cluster, ns, redis_url)
    resolved = await resolve_profile(store, users[0])
    assert resolved.source == SOURCE_LIVE
    await store.close()


async def node_traces(cluster, needles: list[str], ns: str) -> list[str]:
    """find_traces on each node by itself (not through the cluster client)."""
    found = []
    for port in cluster.ports:
        node = aioredis.Redis.from_url(cluster.node_url(port))
        found += [f"{port}: {t}" for t in await find_traces(node, needles, f"{ns}:*")]
        await node.close()
    return found


async def test_erasure_leaves_no_trace_on_any_node(cluster, cc, sync_cc, shared, ns, redis_url):
    alice, bob = "alice:42{x}@example", "bob"
    store = store_for(cluster, ns, redis_url)
    tracker_store, lock_store = rasa_stores(redis_url, ns, KEY)
    stream = f"{ns}:events"
    source = RedisStreamSource(shared, stream)
    await source.ensure_group()
    worker = FeatureWorker(source, cc, ns, pseudonym_key=KEY)
    for user in (alice, bob):
        await store.put_profile(user, {"segment": "bargain_hunter", "email": "x"})
        await record_consent(cc, ns, user, GRANTED, "rest", KEY)
        await shared.xadd(stream, encode(message(user, 1.7e9)))
        await tracker_store.save(DialogueStateTracker.from_events(user, [UserUttered("hi")]))
        lock_store.issue_ticket(user)
    await drain(worker, source)
    for tag in ("a", "b"):
        publish_users(sync_cc, ns, [alice, bob, f"other-{tag}"], ["seg-01"] * 3)
    needles = [alice, pseudonym(alice, KEY)]
    before = await node_traces(cluster, needles, ns) + await find_traces(shared, needles)
    assert len(before) >= 6, before
    bob_before = await node_traces(cluster, [bob], ns)
    loaded = await tracker_store.retrieve(alice)  # a turn that started before the erasure

    eraser = Eraser(cc, ns, pseudonym_key=KEY, shared=shared)
    receipt = (await eraser.erase([alice]))[alice]

    assert await node_traces(cluster, needles, ns) == []
    assert await find_traces(shared, needles, f"{ns}:*") == []
    for kind in ("profile", "consent", "live_features", "tracker", "lock"):
        assert receipt[kind] >= 1, (kind, receipt)
    assert receipt["segment_versions"] == 2 and receipt["stream:events"] == 1
    assert await node_traces(cluster, [bob], ns) == bob_before
    # The marker is in both places: the tracker store (standalone) refuses the late save.
    loaded.update(UserUttered("still there?"))
    await tracker_store.save(loaded)
    assert tracker_store.refused_saves == 1
    assert await shared.exists(f"{ns}:tracker:{alice}") == 0
    exported = await export_user(cc, ns, bob, None, shared=shared, keys=UserKeys(ns, KEY))
    assert exported["profile"] and len(exported["segments"]["by_version"]) == 2
    await store.close()
