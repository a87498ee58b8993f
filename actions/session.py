"""Session start: load the user's segment before the first answer of every session."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import ASKED, ShopAction, consented_traits, segment_slots
from actions.turns import CONSENT_SLOT, exposed_experiments
from personalization.outcomes import record_engagement
from personalization.resolution import resolve_profile

# Slots worth carrying into a new session; the segment is re-read instead.
CARRIED_SLOTS = ("product_category", "experiments")  # experiments: sticky without Redis


class ActionSessionStart(ShopAction):
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
            self.services.store, tracker.sender_id, consented_traits(tracker)
        )
        events += [SlotSet(name, value) for name, value in segment_slots(resolution).items()]
        if resolution.personalized:  # a session (and maybe a return) of each variant seen
            await record_engagement(
                self.services.chooser,
                self.services.store.timeout,
                tracker.sender_id,
                exposed_experiments(tracker),
                session_start=True,
            )
        events.append(ActionExecuted("action_listen"))
        return events
