"""Conversations to a table: one row per user message, with personal data masked.

Sources are a Rasa tracker store (read through Rasa's own API from an endpoints.yml, so
every store Rasa supports works) or a JSON-lines dump of event-broker messages.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from core.pseudonyms import pseudonymize_frame
from segmentation.errors import InputError
from segmentation.redact import redact
from segmentation.tables import SUFFIXES, write_table

COLUMNS = [
    "user_id", "timestamp", "session", "intent", "entities", "text_length", "text",
    "channel", "timezone", "device", "region", "segment", "segment_version",
]  # fmt: skip
DTYPES = {
    "user_id": object, "timestamp": "float64", "session": "int64", "intent": object,
    "entities": object, "text_length": "int64", "text": object, "channel": object,
    "timezone": object, "device": object, "region": object, "segment": object,
    "segment_version": object,
}  # fmt: skip
# The slots the action server sets on every personalized turn (actions/turns.py): which
# segment and model version answered the message.
SEGMENT_SLOTS = ("segment", "segment_version")
METADATA_KEYS = ("timezone", "device", "region")
JSONL_SUFFIXES = (".jsonl",)
ENDPOINTS_SUFFIXES = (".yml", ".yaml")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _timestamp(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _entity(entity: dict) -> dict:
    """Name and value only; a string value is redacted like the text it was extracted from."""
    value = entity.get("value")
    return {
        "entity": entity.get("entity"),
        "value": redact(value) if isinstance(value, str) else value,
    }


def _entities(parse_data: dict) -> str:
    found = parse_data.get("entities")
    found = found if isinstance(found, list) else []
    return json.dumps([_entity(e) for e in found if isinstance(e, dict)], ensure_ascii=False)


def _user_row(sender_id: str, event: dict, session: int) -> dict:
    parse_data = event.get("parse_data") if isinstance(event.get("parse_data"), dict) else {}
    intent = parse_data.get("intent") if isinstance(parse_data.get("intent"), dict) else {}
    metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    text = _text(event.get("text"))
    return {
        "user_id": str(sender_id),
        "timestamp": _timestamp(event.get("timestamp")),
        "session": session,
        "intent": _text(intent.get("name")),
        "entities": _entities(parse_data),
        "text_length": len(text),
        "text": redact(text),
        "channel": _text(event.get("input_channel")),
        **{key: _text(metadata.get(key)) for key in METADATA_KEYS},
        "segment": "",
        "segment_version": "",
    }


def rows_from_events(sender_id: str, events: Iterable[dict]) -> list[dict]:
    """One row per user event of one conversation, numbered by session.

    The first session opens at the first "session_started" or user event; every later
    "session_started" opens the next one, so sessions are 0-based even for trackers that
    start with a user message (session handling switched off). Each row carries the
    segment and model version that answered it: the slots set in its turn, else the ones
    the conversation already had.
    """
    rows, session, opened = [], 0, False
    current = dict.fromkeys(SEGMENT_SLOTS, "")
    for event in events:
        kind = event.get("event") if isinstance(event, dict) else None
        if kind == "session_started":
            session += 1 if opened else 0
            opened = True
        elif kind == "user":
            opened = True
            rows.append({**_user_row(sender_id, event, session), **current})
        elif kind == "slot" and event.get("name") in SEGMENT_SLOTS:
            value = event.get("value")
            current[event["name"]] = value if isinstance(value, str) else ""
            if rows:
                rows[-1][event["name"]] = current[event["name"]]
    return rows


def events_frame(rows: Iterable[dict]) -> pd.DataFrame:
    """The export table with its fixed columns and dtypes, also when there are no rows."""
    frame = pd.DataFrame(list(rows), columns=COLUMNS)
    return frame.astype(DTYPES)


def _store_error(endpoints_path: Path, exc: Exception) -> InputError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return InputError(
        f"cannot read the tracker store ({detail}); check its tracker_store section and that "
        "the store is running",
        str(endpoints_path),
    )


def _endpoint_config(endpoints_path: Path) -> Any:
    from rasa.utils.endpoints import read_endpoint_config

    if not endpoints_path.is_file():
        raise InputError("endpoints file not found", str(endpoints_path))
    try:
        config = read_endpoint_config(str(endpoints_path), "tracker_store")
    except Exception as exc:  # YAML errors come in several Rasa and ruamel types
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"cannot read endpoints file ({detail})", str(endpoints_path)) from None
    if config is None:
        raise InputError(
            "no tracker_store section; add one as in Rasa's endpoints.yml", str(endpoints_path)
        )
    _check_sqlite_file(config, endpoints_path)
    return config


def _check_sqlite_file(config: Any, endpoints_path: Path) -> None:
    """Rasa would create a missing SQLite file (and retry forever on a missing folder)."""
    kwargs = getattr(config, "kwargs", {}) or {}
    if str(config.type).lower() != "sql" or str(kwargs.get("dialect", "sqlite")) != "sqlite":
        return
    db = kwargs.get("db", "rasa.db")
    if not Path(str(db)).is_file():
        raise InputError(
            f"SQLite tracker store database '{db}' not found; check tracker_store.db",
            str(endpoints_path),
        )


def _conversation_id(store: Any, key: Any) -> str:
    """Redis returns its keys with the store's prefix, which retrieve() adds again."""
    key = key.decode() if isinstance(key, bytes) else str(key)
    prefix = getattr(store, "key_prefix", None)
    if isinstance(prefix, str) and prefix and key.startswith(prefix):
        return key[len(prefix) :]
    return key


def _open_store(config: Any, endpoints_path: Path) -> Any:
    """Rasa falls back to an empty in-memory store for unknown types; that is a typo here."""
    from rasa.core.tracker_store import InMemoryTrackerStore, TrackerStore
    from rasa.shared.core.domain import Domain

    try:
        store = TrackerStore.create(config, domain=Domain.empty())
    except Exception as exc:  # each store type has its own driver errors (redis, SQL, Mongo, ...)
        raise _store_error(endpoints_path, exc) from None
    if isinstance(store, InMemoryTrackerStore):
        raise InputError(
            f"tracker store type '{config.type}' is not a persistent store Rasa knows; use "
            "redis, SQL, mongod, dynamo or a module path",
            str(endpoints_path),
        )
    return store


async def export_tracker_store(endpoints_path: str | Path, on_record=None) -> pd.DataFrame:
    """All conversations in the tracker store an endpoints.yml names, every session of each;
    `on_record()` after each conversation (progress)."""
    endpoints_path = Path(endpoints_path)
    store = _open_store(_endpoint_config(endpoints_path), endpoints_path)
    rows: list[dict] = []
    try:
        keys = sorted(_conversation_id(store, key) for key in await store.keys())
        for sender_id in keys:
            tracker = await store.retrieve_full_tracker(sender_id)
            events = [event.as_dict() for event in tracker.events] if tracker is not None else []
            rows.extend(rows_from_events(sender_id, events))
            if on_record:
                on_record()
    except Exception as exc:  # driver errors differ per store type (redis, SQL, Mongo, ...)
        raise _store_error(endpoints_path, exc) from None
    return events_frame(rows)


def _broker_message(line: str, path: Path, row: int) -> dict:
    try:
        message = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON ({exc.msg} at char {exc.pos + 1})", str(path), row
        ) from None
    if not isinstance(message, dict):
        raise InputError(
            f"expected a JSON object (an event-broker message), got {type(message).__name__}",
            str(path),
            row,
        )
    sender_id = message.get("sender_id")
    if not isinstance(sender_id, str) or not sender_id:
        raise InputError(
            "missing sender_id; each line must be an event-broker message",
            str(path),
            row,
            "sender_id",
        )
    return message


def export_jsonl(path: str | Path, on_record=None) -> pd.DataFrame:
    """Event-broker messages, one JSON object per line (row = line number, blank lines count);
    `on_record()` after each line (progress)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", str(path))
    by_sender: dict[str, list[dict]] = {}
    try:
        with path.open(encoding="utf-8") as lines:
            for row, line in enumerate(lines, start=1):
                if line.strip():
                    message = _broker_message(line, path, row)
                    by_sender.setdefault(message["sender_id"], []).append(message)
                if on_record:
                    on_record()
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", str(path)) from None
    rows = [row for sender, events in by_sender.items() for row in rows_from_events(sender, events)]
    return events_frame(rows)


def export(
    source: str, out: str | Path, pseudonym_key: bytes | None = None, on_record=None
) -> tuple[Path, int]:
    """Export a .jsonl dump or the tracker store of an endpoints .yml/.yaml to CSV or Parquet.

    With a key (the CLI always passes one) user ids become keyed pseudonyms: analysts never
    see raw ids, and published segments are looked up by the same pseudonyms."""
    if Path(out).suffix not in SUFFIXES:
        raise InputError(f"unsupported output format; use one of {', '.join(SUFFIXES)}", str(out))
    lowered = str(source).lower()
    if lowered.endswith(JSONL_SUFFIXES):
        frame = export_jsonl(source, on_record)
    elif lowered.endswith(ENDPOINTS_SUFFIXES):
        frame = asyncio.run(export_tracker_store(source, on_record))
    else:
        raise InputError(
            "unknown source; pass an endpoints .yml/.yaml (tracker store) or a .jsonl event dump",
            str(source),
        )
    if pseudonym_key is not None:
        frame = pseudonymize_frame(frame, "user_id", pseudonym_key)
    return write_table(frame, out), len(frame)
