"""Real rasa-sdk trackers and dispatchers for driving actions in tests."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from tests.conftest import FIXTURE_USER


def message(
    text: str,
    intent: str,
    entities: list[tuple[str, str]] = (),
    slots: dict[str, Any] | None = None,
    channel: str | None = None,
    metadata: dict[str, Any] | None = None,
    input_channel: str | None = None,
    sender: str = FIXTURE_USER,
    parse: dict[str, Any] | None = None,
) -> Tracker:
    """A tracker whose latest message is `text`, parsed as `intent` with these entities."""
    parsed = [{"entity": e, "value": v, "start": 0, "end": len(v)} for e, v in entities]
    metadata = {**({"channel": channel} if channel else {}), **(metadata or {})}
    latest = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.97},
        "entities": parsed,
        "metadata": metadata,
        **(parse or {}),
    }
    user = {"event": "user", "text": text, "parse_data": latest, "metadata": metadata}
    if input_channel:
        user["input_channel"] = input_channel
    return Tracker(
        sender,
        {"product_category": None, "product": None, **(slots or {})},
        latest,
        [user],
        False,
        None,
        {},
        "action_listen",
    )


async def answer(action, tracker, domain) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain)
    return dispatcher.messages, events


def slot(events, name):
    found = [e["value"] for e in events if e.get("event") == "slot" and e["name"] == name]
    return found[-1] if found else None
