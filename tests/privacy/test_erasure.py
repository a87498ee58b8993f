"""Erasure against a real Redis: every store holds the user, then a full scan finds nothing.

The data is written by the project's own writers (feature worker, publisher, experiment and
decision stores, Rasa tracker and lock stores, rate limiter), so a new store that keeps
user ids fails the scan here until erasure covers it.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
import redis
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from core.pseudonyms import pseudonym
from core.redis_keys import UserKeys
from experiments.config import load_experiments
from experiments.decisions import Decision, DecisionStore
from experiments.exposures import ExposureStore
from experiments.surveys import SurveyStore
from gateway.ratelimit import RateLimit, RateLimiter
from personalization.store import ProfileStore
from privacy.audit import find_traces
from privacy.consent import record_consent
from privacy.erasure import Eraser, ErasureError, check_ids
from privacy.export import export_user, readable
from privacy.fields import encrypt_fields
from privacy.keyring import Keyring
from realtime.processing import FeatureWorker
from realtime.sources import RedisStreamSource
from realtime.stream import encode, purchase_event
from segmentation.publish import Keys, publish
from tests.privacy.conftest import PSEUDONYM_KEY, rasa_stores

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "var" / "security" / "erasure.json"  # read by `make security-check`
ALICE, BOB = "alice:42@example", "bob"  # ids with glob and separator characters on purpose


@pytest.fixture
def keyring() -> Keyring:
    from cryptography.fernet import Fernet

    return Keyring((Fernet.generate_key(),), PSEUDONYM_KEY)


async def fill(
    redis_url: str, namespace: str, client, user: str, keyring: Keyring, tag: str = "a"
) -> None:
    """Write `user` into every store the way the running system does (one pseudonym key)."""
    key = keyring.pseudonym_key
    store = ProfileStore(client, namespace=namespace, pseudonym_key=key)
    await store.put_profile(
        user, encrypt_fields({"segment": "bargain_hunter", "email": f"{user}.mail"}, keyring)
    )
    await record_consent(client, namespace, user, "granted", "rest", key)
    stream = f"{namespace}:events"
    for event in (
        {"event": "user", "sender_id": user, "timestamp": 1.0, "text": "hi"},
        purchase_event(user, 30.0, "laptops", timestamp=2.0),
    ):
        await client.xadd(stream, encode(event))
    await client.xadd(
        f"{namespace}:events:dead", {"id": "1-1", "event": f'{{"sender_id": "{user}"'}
    )
    source = RedisStreamSource(client, stream, consumer=f"c-{user}")
    await source.ensure_group()
    worker = FeatureWorker(source, client, namespace, pseudonym_key=key)
    while entries := await source.read(100, 20):
        await worker.process(entries)
    for version in ("v1", "v2"):
        publish(
            redis.Redis.from_url(redis_url),
            [pseudonym(user, keyring.pseudonym_key), f"other-{version}"],  # as retrain does
            ["0", "1"],
            {"segments": [{"id": "0", "persona": "bargain_hunter"}]},
            {"type": "none"},
            Keys(namespace),
            version=f"{version}{tag}",
        )
    specs = load_experiments(ROOT / "experiments" / "experiments.yml")
    exposures = ExposureStore(client, namespace)
    for spec in specs.values():
        if await exposures.expose(spec, user, "bargain_hunter"):
            await exposures.convert(spec, user)
    # a session start the next day: a return (experiments/exposures.py)
    await exposures.session_started(user, list(specs), now=time.time() + 86400)
    decisions = DecisionStore(client, namespace)
    decision = Decision(user, "bargain_hunter", "recommend", "v", "base", "bandit", 0.5, ("base",))
    await decisions.record(decision)
    await decisions.feedback(decision.id, user, "down", "too_expensive")
    surveys = SurveyStore(client, namespace)
    assert await surveys.score(decision.id, user, 4, "3") == "stored"
    assert await surveys.comment(decision.id, user, f"{user} liked it", "3") == "stored"
    tracker_store, lock_store = rasa_stores(redis_url, namespace, key)
    await tracker_store.save(DialogueStateTracker.from_events(user, [UserUttered("hello")]))
    lock_store.issue_ticket(user)
    await RateLimiter(client, namespace).hit("user", user, RateLimit(5, 60))


async def test_after_erasure_no_key_or_entry_names_the_user(redis_url, ns, keyring):
    namespace, client = ns
    for user, tag in ((ALICE, "a"), (BOB, "b")):
        await fill(redis_url, namespace, client, user, keyring, tag)
    needles = [ALICE, pseudonym(ALICE, keyring.pseudonym_key)]
    before = await find_traces(client, needles, f"{namespace}:*")
    assert len(before) >= 10, before  # the fill really reached the stores
    bob_before = await find_traces(client, [BOB], f"{namespace}:*")

    receipt = await Eraser(client, namespace, pseudonym_key=keyring.pseudonym_key).erase([ALICE])

    residue = await find_traces(client, needles, f"{namespace}:*")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"keys_before": len(before), "residual": len(residue), "receipt": receipt})
        + "\n"
    )
    assert residue == []
    counts = receipt[ALICE]
    for store in ("profile", "consent", "live_features", "tracker", "lock", "rate_limits"):
        assert counts[store] >= 1, (store, counts)
    assert counts["segment_versions"] == 2 and counts["decisions"] == 1
    assert counts["stream:events"] == 2 and counts["stream:events:dead"] == 1
    assert counts["stream:feedback"] == 1 and counts["stream:decisions"] == 1
    assert counts["stream:surveys"] == 2  # the score and the comment
    assert counts["experiment_exposures"] >= 3  # exposure, its index, the returns index
    # Bob is untouched; aggregates keep their counts without ids.
    assert await find_traces(client, [BOB], f"{namespace}:*") == bob_before
    assert await client.exists(UserKeys(namespace, keyring.pseudonym_key).profile(BOB))
    assert [k async for k in client.scan_iter(match=f"{namespace}:bandit:*")]


async def test_a_message_during_erasure_cannot_bring_the_tracker_back(redis_url, ns, keyring):
    namespace, client = ns
    tracker_store, _ = rasa_stores(redis_url, namespace)
    tracker = DialogueStateTracker.from_events(ALICE, [UserUttered("hello")])
    await tracker_store.save(tracker)
    loaded = await tracker_store.retrieve(ALICE)  # a turn that started before the erasure

    await Eraser(client, namespace, pseudonym_key=PSEUDONYM_KEY).erase([ALICE])
    loaded.update(UserUttered("are you still there?"))
    await tracker_store.save(loaded)

    assert await client.exists(f"{namespace}:tracker:{ALICE}") == 0
    assert tracker_store.refused_saves == 1
    assert await find_traces(client, [ALICE], f"{namespace}:*") == []
    # After the grace period a new conversation is a new conversation.
    await client.delete(UserKeys(namespace, PSEUDONYM_KEY).erasing(ALICE))
    await tracker_store.save(DialogueStateTracker.from_events(ALICE, [UserUttered("hi again")]))
    assert await client.exists(f"{namespace}:tracker:{ALICE}") == 1


async def test_concurrent_turn_and_erasure_leave_no_trace(redis_url, ns, keyring):
    namespace, client = ns
    await fill(redis_url, namespace, client, ALICE, keyring)
    tracker_store, _ = rasa_stores(redis_url, namespace)

    async def chatty() -> None:
        for i in range(30):
            tracker = await tracker_store.retrieve(ALICE) or DialogueStateTracker(ALICE, [])
            tracker.update(UserUttered(f"message {i}"))
            await tracker_store.save(tracker)
            await asyncio.sleep(0)

    eraser = Eraser(client, namespace, pseudonym_key=keyring.pseudonym_key)
    await asyncio.gather(chatty(), eraser.erase([ALICE]))
    assert await find_traces(client, [ALICE], f"{namespace}:*") == []


async def test_export_shows_every_store_in_plain_text(redis_url, ns, keyring):
    namespace, client = ns
    await fill(redis_url, namespace, client, ALICE, keyring)
    raw = await client.hget(UserKeys(namespace, keyring.pseudonym_key).profile(ALICE), "email")
    assert raw.startswith(b"enc:v1:") and ALICE.encode() not in raw  # encrypted at rest

    data = await export_user(client, namespace, ALICE, keyring)

    assert data["profile"]["email"] == f"{ALICE}.mail"
    assert data["consent"]["status"] == "granted" and data["consent"]["policy"]
    assert set(data["segments"]["by_version"]) == {"v1a", "v2a"}
    assert data["live_features"]["purchases"] == "1"
    assert data["experiments"] and data["decisions"][0]["rating"] == "down"
    assert data["decisions"][0]["satisfaction"] == "4"
    assert data["decisions"][0]["comment"] == f"{ALICE} liked it"
    assert [(s["kind"], s["satisfaction"]) for s in data["surveys"]] == [
        ("score", "4"),
        ("comment", "4"),
    ]
    assert data["conversation"]["messages"][0]["text"] == "hello"
    text = readable(data)
    assert "Personalization: granted" in text and "email: alice:42@example.mail" in text
    assert "forget me" in text and "1 survey answer(s)" in text
    keys = UserKeys(namespace, keyring.pseudonym_key)
    assert "(encrypted)" in str(await export_user(client, namespace, ALICE, None, keys=keys))


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ([], "at least one"),
        (["ok", ""], "non-empty strings"),
        (["x" * 300], "at most 256"),
        ([7], "non-empty strings"),
        ([f"u{i}" for i in range(1001)], "at most 1000"),
    ],
)
def test_bad_id_lists_are_refused_before_anything_is_erased(ids, message):
    with pytest.raises(ErasureError, match=message):
        check_ids(ids)
