"""Contextual cues of the current message: what the gateway added to its metadata."""

from __future__ import annotations

from dataclasses import dataclass

from rasa_sdk import Tracker

MOBILE_DEVICES = ("mobile",)


@dataclass(frozen=True)
class Context:
    timezone: str | None = None
    region: str | None = None
    device: str | None = None
    channel: str | None = None

    @property
    def compact(self) -> bool:
        """Small screens get shorter answers."""
        return self.device in MOBILE_DEVICES


def _text(value: object) -> str | None:
    return value[:64] if isinstance(value, str) and value else None


def message_context(tracker: Tracker) -> Context:
    """Cues from the latest message's metadata; anything missing or malformed is None."""
    metadata = (tracker.latest_message or {}).get("metadata")
    if not isinstance(metadata, dict):
        return Context()
    return Context(*(_text(metadata.get(k)) for k in ("timezone", "region", "device", "channel")))
