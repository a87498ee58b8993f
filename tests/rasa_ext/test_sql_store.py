"""The PostgreSQL tracker store against a real PostgreSQL (scripts/postgres.sh) and Redis:
round trips, the journal that keeps answered turns while the database is down, two
processes on one conversation, the erasure guard, retention and the metrics."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis
from prometheus_client import generate_latest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from core.redis_keys import UserKeys
from core.settings import Settings
from rasa_ext.spool import Spool
from rasa_ext.sql_store import PostgresTrackerStore
from tests.servers import PostgresServer, free_port

KEY = "p" * 32  # the pseudonym key as configured (text)


def make_store(server: PostgresServer, db: str, redis_url: str, tmp_path, **kw):
    settings = Settings.from_env({"PZ_REDIS_URL": redis_url, "PZ_PSEUDONYM_KEY": KEY})
    return PostgresTrackerStore(
        Domain.empty(),
        host="127.0.0.1",
        port=server.port,
        db=db,
        username="pz",
        password=server.password,
        spool_dir=str(kw.pop("spool", tmp_path / "spool")),
        settings=settings,
        **kw,
    )


@pytest.fixture
def db(postgres):
    return postgres.database(f"t{uuid.uuid4().hex[:12]}")


def turn(tracker: DialogueStateTracker, text: str) -> None:
    tracker.update(UserUttered(text, {"name": "greet", "confidence": 1.0}))
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(ActionExecuted("action_listen"))


def texts(events: list[dict]) -> list[str]:
    return [e["text"] for e in events if e["event"] == "user"]


async def test_round_trip_and_only_new_events_are_appended(postgres, db, redis_url, tmp_path):
    store = make_store(postgres, db, redis_url, tmp_path)
    tracker = await store.get_or_create_tracker("alice")
    turn(tracker, "hi")
    await store.save(tracker)
    again = await store.retrieve("alice")
    turn(again, "hello again")
    await store.save(again)
    await store.save(again)  # nothing new: nothing written

    rows = postgres.events(db, "alice")
    assert texts(rows) == ["hi", "hello again"]
    assert len(rows) == len(again.events)
    assert await store.keys() == ["alice"]


async def test_two_processes_on_one_conversation_keep_both_turns(postgres, db, redis_url, tmp_path):
    """Locks degraded: both read the same tracker and both save; Rasa's own store would
    count the first save's rows and drop part of the second."""
    first = make_store(postgres, db, redis_url, tmp_path, spool=tmp_path / "a")
    second = make_store(postgres, db, redis_url, tmp_path, spool=tmp_path / "b")
    seed = await first.get_or_create_tracker("bob")
    turn(seed, "start")
    await first.save(seed)
    one, two = await first.retrieve("bob"), await second.retrieve("bob")
    turn(one, "from process one")
    turn(two, "from process two")
    turn(two, "and a second message")
    await asyncio.gather(first.save(one), second.save(two))

    assert sorted(texts(postgres.events(db, "bob"))) == sorted(
        ["start", "from process one", "from process two", "and a second message"]
    )


async def test_with_the_database_down_turns_are_journalled_and_written_back(redis_url, tmp_path):
    server = PostgresServer(f"down-{uuid.uuid4().hex[:6]}").start()
    try:
        server.database("shop")
        store = make_store(server, "shop", redis_url, tmp_path)
        tracker = await store.get_or_create_tracker("carol")
        turn(tracker, "before the outage")
        await store.save(tracker)

        server.kill()
        started = time.monotonic()
        during = await store.retrieve("carol")  # the tracker this process saved last
        turn(during, "during the outage")
        await store.save(during)  # answered: journalled, not raised
        assert time.monotonic() - started < 5
        assert store.spool.pending == 1
        assert "pz_tracker_journalled_events_total 3.0" in generate_latest(store.metrics).decode()

        server.restart()  # same data directory: a restart after the crash
        await asyncio.sleep(1.05)  # the store does not ask a failed database for a second
        back = await store.retrieve("carol")
        assert texts([e.as_dict() for e in back.events]) == [
            "before the outage",
            "during the outage",
        ]
        assert store.spool.pending == 0
        assert texts(server.events("shop", "carol")) == ["before the outage", "during the outage"]
    finally:
        server.destroy()


async def test_a_killed_process_journal_is_replayed_by_the_next(postgres, db, redis_url, tmp_path):
    spool_dir = tmp_path / "spool"
    orphan = Spool(spool_dir, name="rasa-999999999")  # a pid that is not running
    events = [e.as_dict() for e in (SessionStarted(), UserUttered("journalled", {"name": "greet"}))]
    orphan.append("dave", events)

    make_store(postgres, db, redis_url, tmp_path, spool=spool_dir)

    assert texts(postgres.events(db, "dave")) == ["journalled"]
    assert not list(spool_dir.glob("rasa-999999999*"))


async def test_no_tracker_is_saved_while_the_user_is_being_erased(
    postgres, db, redis_url, tmp_path
):
    store = make_store(postgres, db, redis_url, tmp_path)
    marker = UserKeys("pz", KEY.encode()).erasing("erin")
    client = redis.Redis.from_url(redis_url)
    client.set(marker, 1, ex=30)
    try:
        tracker = await store.get_or_create_tracker("erin")
        turn(tracker, "my address is ...")
        await store.save(tracker)
    finally:
        client.delete(marker)
    assert postgres.events(db, "erin") == []
    assert "pz_tracker_refused_saves_total 2.0" in generate_latest(store.metrics).decode()


async def test_retention_deletes_conversations_idle_past_the_period(
    postgres, db, redis_url, tmp_path
):
    """The store deletes them after its first write (then hourly); `prune` on demand."""
    store = make_store(postgres, db, redis_url, tmp_path)

    def idle(sender: str, days: float) -> DialogueStateTracker:
        event = UserUttered(
            f"{days} days ago", {"name": "greet"}, timestamp=time.time() - days * 86400
        )
        return DialogueStateTracker.from_events(sender, [event])

    await store.save(idle("old", 90))  # the first write prunes with PZ_RETENTION_DAYS (30)
    await store.save(idle("recent", 10))
    await store.save(idle("older", 60))  # within the hour: waits for the next prune
    assert postgres.events(db, "old") == []
    assert len(postgres.events(db, "older")) == 1

    removed = store.prune(time.time() - 30 * 86400)

    assert removed == 1
    assert postgres.events(db, "older") == []
    assert texts(postgres.events(db, "recent")) == ["10 days ago"]


async def test_latency_is_measured_per_operation(postgres, db, redis_url, tmp_path):
    store = make_store(postgres, db, redis_url, tmp_path)
    tracker = await store.get_or_create_tracker("frank")
    turn(tracker, "hi")
    await store.save(tracker)
    text = generate_latest(store.metrics).decode()
    assert 'pz_tracker_store_seconds_count{op="retrieve"} 1.0' in text
    assert 'pz_tracker_store_seconds_count{op="save"} 2.0' in text


def test_an_unreachable_database_ends_in_one_line_not_a_hang(tmp_path):
    """Rasa's own constructor retries forever; `segment export` must end instead."""
    started = time.monotonic()
    with pytest.raises(ConnectionError, match=r"did not answer for 1 s .*start it \(make run\)"):
        PostgresTrackerStore(
            Domain.empty(),
            host="127.0.0.1",
            port=free_port(),  # nothing listens
            db="x",
            username="pz",
            password="x",
            connect_wait_s=1,
            spool_dir=str(tmp_path),
            settings=Settings.from_env({}),
        )
    assert time.monotonic() - started < 10
