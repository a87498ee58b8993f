"""Conversation export: redaction, event rows, real Redis and SQLite tracker stores, JSONL."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from rasa_ext.stores import RedisTrackerStore as ProjectRedisTrackerStore
from segmentation.errors import InputError
from segmentation.export import (
    COLUMNS,
    events_frame,
    export,
    export_jsonl,
    export_tracker_store,
    rows_from_events,
)
from segmentation.redact import redact
from segmentation.tables import read_table
from tests.servers import free_port

EXPECTED_COLUMNS = [
    "user_id",
    "timestamp",
    "session",
    "intent",
    "entities",
    "text_length",
    "text",
    "channel",
    "timezone",
    "device",
    "region",
    "segment",
    "segment_version",
]
BERLIN = {"timezone": "Europe/Berlin", "device": "mobile", "region": "DE"}


# --- redaction -------------------------------------------------------------------------------

MASKED = [
    ("my email is a@b.com", "my email is <email>"),
    ("write to john.doe+shop@mail.example.co.uk!", "write to <email>!"),
    ("call +49 30 1234 5678 please", "call <phone> please"),
    ("+1 (555) 123-4567", "<phone>"),
    ("(030) 123-4567", "<phone>"),
    ("ring 555-1234", "ring <phone>"),
    ("0151 23456789", "<phone>"),
    ("555 123 4567", "<phone>"),
    ("0049 151 2345 6789", "<phone>"),
    ("+4915123456789", "<phone>"),
    ("card 4111 1111 1111 1111 ok", "card <card> ok"),
    ("4111-1111-1111-1111", "<card>"),
    ("4111111111111112", "<card>"),  # fails Luhn, still masked
    ("378282246310005", "<card>"),
    ("1234567890123456789", "<card>"),
    ("mail a@b.com, phone 0171-2345678", "mail <email>, phone <phone>"),
]
KEPT = [
    "5000 mAh battery",
    "a 6.7-inch OLED",
    "under €899",
    "released in 2026",
    "Nova X12 or Nova X12 Pro",
    "€1,199.20 with 20% off",
    "Pixel 8 Pro 2026 128 GB",
    "order 123456",
    "delivered 2026-11-24",
    "price 1234567.89",
    "144 Hz, 3.5 GHz, 50 MP",
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_redact_masks_contact_and_card_numbers(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("text", KEPT)
def test_redact_keeps_product_talk(text):
    assert redact(text) == text


# --- rows from events ------------------------------------------------------------------------


def user_event(text, ts, intent="greet", **extra):
    event = {
        "event": "user",
        "timestamp": ts,
        "text": text,
        "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": []},
        "input_channel": "rest",
    }
    return {**event, **extra}


def test_rows_from_events_counts_sessions_and_reads_metadata():
    entities = [{"entity": "product", "value": "Nova X12", "start": 0, "end": 8}]
    events = [
        {"event": "action", "name": "action_session_start", "timestamp": 1.0},
        {"event": "session_started", "timestamp": 1.0},
        user_event("hi, call me on +49 30 1234 5678", 2.5, metadata=BERLIN),
        {"event": "bot", "text": "Hello!", "timestamp": 3.0},
        user_event(
            "Nova X12 specs",
            4.0,
            intent="ask_specs",
            parse_data={"intent": {"name": "ask_specs"}, "entities": entities},
        ),
        {"event": "session_started", "timestamp": 100.0},
        {"event": "session_started", "timestamp": 200.0},  # an empty session still counts
        user_event("bye", 201.0, intent="goodbye", input_channel="socketio"),
    ]
    rows = rows_from_events("u1", events)
    assert [r["session"] for r in rows] == [0, 0, 2]
    assert [r["timestamp"] for r in rows] == [2.5, 4.0, 201.0]
    assert [r["intent"] for r in rows] == ["greet", "ask_specs", "goodbye"]
    assert rows[0]["text"] == "hi, call me on <phone>"
    assert rows[0]["text_length"] == len("hi, call me on +49 30 1234 5678")
    assert (rows[0]["timezone"], rows[0]["device"], rows[0]["region"]) == (
        "Europe/Berlin",
        "mobile",
        "DE",
    )
    assert rows[1]["timezone"] == rows[1]["device"] == rows[1]["region"] == ""
    assert json.loads(rows[1]["entities"]) == [{"entity": "product", "value": "Nova X12"}]
    assert json.loads(rows[0]["entities"]) == []
    assert [r["channel"] for r in rows] == ["rest", "rest", "socketio"]
    assert {r["user_id"] for r in rows} == {"u1"}


def test_rows_from_events_without_session_start_begin_at_session_zero():
    events = [user_event("a", 1.0), {"event": "session_started"}, user_event("b", 2.0)]
    assert [r["session"] for r in rows_from_events("u", events)] == [0, 1]


def test_rows_from_events_tolerates_missing_and_none_fields():
    events = [
        {"event": "user"},
        {
            "event": "user",
            "text": None,
            "parse_data": None,
            "input_channel": None,
            "metadata": None,
            "timestamp": None,
        },
        {
            "event": "user",
            "text": "x",
            "parse_data": {"intent": None, "entities": None},
            "metadata": {"timezone": 1, "device": None, "region": ["DE"]},
        },
        "not an event",
    ]
    rows = rows_from_events("u", events)
    assert len(rows) == 3
    for row in rows:
        assert row["intent"] == row["channel"] == row["timezone"] == row["device"] == ""
        assert row["region"] == ""
        assert row["entities"] == "[]"
    assert [r["text_length"] for r in rows] == [0, 0, 1]
    assert [r["text"] for r in rows] == ["", "", "x"]


def test_entity_values_are_redacted_too():
    parse_data = {
        "intent": {"name": "inform"},
        "entities": [{"entity": "email", "value": "a@b.com"}],
    }
    rows = rows_from_events("u", [user_event("a@b.com", 1.0, parse_data=parse_data)])
    assert json.loads(rows[0]["entities"]) == [{"entity": "email", "value": "<email>"}]


def assert_schema(frame: pd.DataFrame) -> None:
    assert list(frame.columns) == EXPECTED_COLUMNS == COLUMNS
    assert frame["timestamp"].dtype == "float64"
    assert frame["session"].dtype == "int64"
    assert frame["text_length"].dtype == "int64"
    for column in set(EXPECTED_COLUMNS) - {"timestamp", "session", "text_length"}:
        assert frame[column].dtype == object
        assert frame[column].map(type).eq(str).all(), column


def test_events_frame_has_the_schema_with_and_without_rows():
    assert_schema(events_frame([]))
    assert events_frame([]).empty
    frame = events_frame(rows_from_events("u", [user_event("hi", 1.0, metadata=BERLIN)]))
    assert_schema(frame)
    assert len(frame) == 1


# --- tracker stores --------------------------------------------------------------------------


def conversation(sender_id: str, base: float) -> DialogueStateTracker:
    """Two sessions: a greeting with contact data, a product question, then a new session."""
    events = [
        ActionExecuted("action_session_start", timestamp=base),
        SessionStarted(timestamp=base),
        ActionExecuted("action_listen", timestamp=base),
        UserUttered(
            "my email is a@b.com",
            intent={"name": "greet", "confidence": 1.0},
            timestamp=base + 1,
            input_channel="rest",
            metadata=BERLIN,
        ),
        BotUttered("Hello!", timestamp=base + 2),
        ActionExecuted("action_listen", timestamp=base + 2),
        UserUttered(
            "is the Nova X12 5000 mAh?",
            intent={"name": "ask_specs", "confidence": 0.9},
            entities=[{"entity": "product", "value": "Nova X12"}],
            timestamp=base + 3,
            input_channel="rest",
        ),
        ActionExecuted("action_session_start", timestamp=base + 5000),
        SessionStarted(timestamp=base + 5000),
        ActionExecuted("action_listen", timestamp=base + 5000),
        UserUttered(
            "call me at 0171 2345678",
            intent={"name": "contact", "confidence": 1.0},
            timestamp=base + 5001,
            input_channel="socketio",
            metadata={"timezone": "Europe/Paris", "device": "desktop", "region": "FR"},
        ),
    ]
    return DialogueStateTracker.from_events(sender_id, events)


def assert_exported(frame: pd.DataFrame) -> None:
    assert_schema(frame)
    assert len(frame) == 6
    alice = frame[frame["user_id"] == "alice"].reset_index(drop=True)
    assert alice["timestamp"].tolist() == [1001.0, 1003.0, 6001.0]
    assert alice["session"].tolist() == [0, 0, 1]
    assert alice["intent"].tolist() == ["greet", "ask_specs", "contact"]
    assert alice["text"].tolist() == [
        "my email is <email>",
        "is the Nova X12 5000 mAh?",
        "call me at <phone>",
    ]
    assert alice["text_length"].tolist() == [19, 25, 23]
    assert alice["channel"].tolist() == ["rest", "rest", "socketio"]
    assert alice["timezone"].tolist() == ["Europe/Berlin", "", "Europe/Paris"]
    assert alice["device"].tolist() == ["mobile", "", "desktop"]
    assert alice["region"].tolist() == ["DE", "", "FR"]
    assert json.loads(alice.loc[1, "entities"]) == [{"entity": "product", "value": "Nova X12"}]
    bob = frame[frame["user_id"] == "bob"]
    assert bob["timestamp"].tolist() == [2001.0, 2003.0, 7001.0]
    assert "a@b.com" not in frame.to_csv()


@pytest.fixture
def redis_store(redis_url):
    """The project's Redis tracker store (Rasa's, with SCAN instead of KEYS, which the
    application's Redis user may not run) under a prefix of its own, with two conversations."""
    url = urlparse(redis_url)
    db = int(url.path.strip("/") or 0)
    prefix = f"t{uuid.uuid4().hex[:10]}"
    auth = {"username": url.username, "password": url.password}
    store = ProjectRedisTrackerStore(
        Domain.empty(), host=url.hostname, port=url.port, db=db, key_prefix=prefix, **auth
    )
    asyncio.run(store.save(conversation("alice", 1000.0)))
    asyncio.run(store.save(conversation("bob", 2000.0)))
    yield {"host": url.hostname, "port": url.port, "db": db, "prefix": prefix, **auth}
    keys = list(store.red.scan_iter(f"{prefix}:*"))
    if keys:
        store.red.delete(*keys)


def redis_endpoints(
    tmp_path: Path, host: str, port: int, db: int, prefix: str, username: str, password: str
) -> Path:
    path = tmp_path / "endpoints.yml"
    path.write_text(
        "tracker_store:\n  type: rasa_ext.stores.RedisTrackerStore\n"
        f"  url: {host}\n  port: {port}\n  db: {db}\n  key_prefix: {prefix}\n"
        f"  username: {username}\n  password: {password}\n"
    )
    return path


async def test_export_from_a_real_redis_tracker_store(redis_store, tmp_path):
    endpoints = redis_endpoints(tmp_path, **redis_store)
    assert_exported(await export_tracker_store(endpoints))


async def test_redis_export_sees_only_its_own_prefix(redis_store, tmp_path):
    other = {**redis_store, "prefix": f"t{uuid.uuid4().hex[:10]}"}
    assert (await export_tracker_store(redis_endpoints(tmp_path, **other))).empty


def test_export_dispatches_endpoints_files_and_writes_the_table(redis_store, tmp_path):
    endpoints = redis_endpoints(tmp_path, **redis_store)
    path, count = export(str(endpoints), tmp_path / "out" / "events.parquet")
    assert (path, count) == (tmp_path / "out" / "events.parquet", 6)
    assert_exported(read_table(path))


async def test_unreachable_redis_is_an_input_error(tmp_path):
    endpoints = redis_endpoints(tmp_path, "127.0.0.1", free_port(), 0, "nothere", "pz", "x")
    with pytest.raises(InputError, match=r"endpoints\.yml: cannot read the tracker store"):
        await export_tracker_store(endpoints)


async def test_export_from_a_real_sqlite_tracker_store(tmp_path):
    db = tmp_path / "rasa.db"
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(db))
    await store.save(conversation("alice", 1000.0))
    await store.save(conversation("bob", 2000.0))
    endpoints = tmp_path / "endpoints.yaml"
    endpoints.write_text(f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {db}\n")
    assert_exported(await export_tracker_store(endpoints))


async def test_missing_sqlite_database_is_an_input_error_and_not_created(tmp_path):
    db = tmp_path / "missing.db"
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(f"tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {db}\n")
    with pytest.raises(InputError, match=r"missing.db' not found"):
        await export_tracker_store(endpoints)
    assert not db.exists()


async def test_missing_endpoints_file_and_section_are_input_errors(tmp_path):
    with pytest.raises(InputError, match=r"nope.yml: endpoints file not found"):
        await export_tracker_store(tmp_path / "nope.yml")
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text('action_endpoint:\n  url: "http://127.0.0.1:5055/webhook"\n')
    with pytest.raises(InputError, match=r"endpoints.yml: no tracker_store section"):
        await export_tracker_store(endpoints)


async def test_unknown_store_type_is_an_input_error_not_an_empty_export(tmp_path):
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("tracker_store:\n  type: no.such.Store\n")
    with (
        pytest.warns(UserWarning, match="not found"),  # Rasa's own warning before its fallback
        pytest.raises(InputError, match=r"type 'no.such.Store' is not a persistent store"),
    ):
        await export_tracker_store(endpoints)


# --- JSONL -----------------------------------------------------------------------------------


def broker_lines(sender_id: str, base: float) -> list[str]:
    events = [event.as_dict() for event in conversation(sender_id, base).events]
    return [json.dumps({"sender_id": sender_id, **event}) for event in events]


def test_export_jsonl_groups_by_sender_and_ignores_blank_lines(tmp_path):
    alice, bob = broker_lines("alice", 1000.0), broker_lines("bob", 2000.0)
    mixed = [line for pair in zip(bob, alice, strict=True) for line in pair]  # interleaved
    path = tmp_path / "events.jsonl"
    path.write_text("\n" + "\n\n".join(mixed) + "\n   \n")
    frame = export_jsonl(path)
    assert_exported(frame)
    assert frame["user_id"].tolist() == ["bob"] * 3 + ["alice"] * 3  # senders in file order


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"sender_id": "u", "event": ', "not valid JSON"),
        ('["sender_id", "u"]', "expected a JSON object"),
        ('{"event": "user", "text": "hi"}', "column 'sender_id': missing sender_id"),
        ('{"event": "user", "sender_id": ""}', "column 'sender_id': missing sender_id"),
    ],
)
def test_bad_jsonl_lines_name_the_file_and_line(tmp_path, line, message):
    path = tmp_path / "dump.jsonl"
    good = json.dumps({"sender_id": "u", "event": "user", "text": "hi"})
    path.write_text(f"{good}\n\n{line}\n{good}\n")
    with pytest.raises(InputError, match=r"dump.jsonl, row 3") as caught:
        export_jsonl(path)
    assert message in str(caught.value)
    assert caught.value.row == 3


def test_missing_jsonl_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        export_jsonl(tmp_path / "none.jsonl")


def test_unknown_source_suffix_is_an_input_error(tmp_path):
    source = tmp_path / "events.csv"
    source.write_text("x\n")
    with pytest.raises(InputError, match=r"events\.csv: unknown source"):
        export(str(source), tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()


def test_unknown_output_suffix_fails_before_exporting(tmp_path):
    with pytest.raises(InputError, match=r"out\.xlsx: unsupported output format"):
        export(str(tmp_path / "missing.jsonl"), tmp_path / "out.xlsx")


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_outputs_round_trip_through_read_table(tmp_path, suffix):
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(broker_lines("alice", 1000.0) + broker_lines("bob", 2000.0)))
    expected = export_jsonl(source)
    path, count = export(str(source), tmp_path / f"events{suffix}")
    assert path.suffix == suffix
    assert count == 6
    back = read_table(path)
    if suffix == ".csv":  # CSV cannot tell "" from missing
        back = back.fillna("")
    pd.testing.assert_frame_equal(back, expected)


def test_empty_jsonl_exports_an_empty_table_with_the_schema(tmp_path):
    source = tmp_path / "events.jsonl"
    source.write_text("\n\n")
    path, count = export(str(source), tmp_path / "events.parquet")
    assert count == 0
    back = read_table(path)
    assert list(back.columns) == EXPECTED_COLUMNS
    assert back.empty


def test_each_row_carries_the_segment_and_version_that_answered_it():
    events = [
        {"event": "user", "text": "hi", "timestamp": 1},
        {"event": "slot", "name": "segment", "value": "seg-03"},
        {"event": "slot", "name": "segment_version", "value": "v1"},
        {"event": "user", "text": "deals?", "timestamp": 2},
        {"event": "user", "text": "laptops", "timestamp": 3},
        {"event": "slot", "name": "segment", "value": "seg-07"},
        {"event": "slot", "name": "segment_version", "value": {"not": "text"}},
    ]
    rows = rows_from_events("alice", events)
    assert [(r["segment"], r["segment_version"]) for r in rows] == [
        ("seg-03", "v1"),
        ("seg-03", "v1"),
        ("seg-07", ""),
    ]
