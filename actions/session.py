"""Session start: load the user's segment before the first answer of every session."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import ASKED, CONSENT_SLOT, SEGMENT_SLOT, known_segment
from actions.personalization import resolve_profile
from actions.store import ProfileStore, default_store

# Slots worth carrying into a new session; the segment is re-read instead.
CARRIED_SLOTS = ("product_category", "experiments")  # experiments: sticky without Redis


class ActionSessionStart(Action):
    def __init__(self, store: ProfileStore | None = None) -> None:
        self._store = store

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        events: list[EventType] = [SessionStarted()]
        events += [
            SlotSet(name, tracker.get_slot(name))
            for name in CARRIED_SLOTS
            if tracker.get_slot(name) is not None
        ]
        if tracker.get_slot(CONSENT_SLOT) not in (None, ASKED):  # "asked": ask again
            events.append(SlotSet(CONSENT_SLOT, tracker.get_slot(CONSENT_SLOT)))
        resolution = await resolve_profile(
            self._store or default_store(), tracker.sender_id, known_segment(tracker)
        )
        events.append(SlotSet(SEGMENT_SLOT, resolution.persona))
        events.append(ActionExecuted("action_listen"))
        return events
