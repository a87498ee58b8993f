"""Actions that misbehave on purpose; module-level records let tests see what happened."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import ActionExecutionRejection

SLEEP_S = 30.0
CANCELLED: list[str] = []  # names of actions whose sleep was cancelled


class ActionTooSlow(Action):
    def name(self) -> str:
        return "action_too_slow"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        try:
            await asyncio.sleep(SLEEP_S)
        except asyncio.CancelledError:
            CANCELLED.append(self.name())
            raise
        dispatcher.utter_message(text="too late")
        return [SlotSet("segment", "too_late")]


class ActionIgnoresCancel(Action):
    """Swallows the first cancellation and keeps going a little: the answer must not wait."""

    def name(self) -> str:
        return "action_ignores_cancel"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        try:
            await asyncio.sleep(SLEEP_S)
        except asyncio.CancelledError:
            CANCELLED.append(self.name())
            await asyncio.sleep(0.5)
        return []


class ActionFailsQuotingTracker(Action):
    def name(self) -> str:
        return "action_fails_quoting_tracker"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        raise RuntimeError(f"cannot handle {tracker.latest_message} from {tracker.sender_id}")


class ActionRejects(Action):
    def name(self) -> str:
        return "action_rejects"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        raise ActionExecutionRejection(self.name(), "this action cannot run now")


class ActionQuick(Action):
    def name(self) -> str:
        return "action_quick"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(text="quick answer")
        return [SlotSet("segment", "quick")]
