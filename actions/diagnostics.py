"""A do-nothing action: the baseline that `make bench` measures personalized actions against.

It never touches its services, so it costs what the action server itself costs."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.base import ShopAction


class ActionNoop(ShopAction):
    def name(self) -> str:
        return "action_noop"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return []
