"""Thanks, goodbye, out of scope and "I didn't get that": small answers, still shaped by the
shopper's segment (what they usually ask about) and the time of day."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.base import PersonalizedAction
from actions.survey import ask_survey, survey_due
from personalization.resolution import Resolution
from personalization.responder import Ask


class ActionThank(PersonalizedAction):
    def name(self) -> str:
        return "action_thank"

    async def ask(self, resolution: Resolution, tracker: Tracker) -> Ask:
        return Ask("thanks")


class ActionGoodbye(PersonalizedAction):
    asks_consent = False

    def name(self) -> str:
        return "action_goodbye"

    async def ask(self, resolution: Resolution, tracker: Tracker) -> Ask:
        return Ask("goodbye")

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """The goodbye, then the post-conversation survey when it is due (actions/survey.py)."""
        events = await super().run(dispatcher, tracker, domain)
        return events + ask_survey(self, dispatcher) if survey_due(tracker, events) else events


class ActionOutOfScope(PersonalizedAction):
    def name(self) -> str:
        return "action_out_of_scope"

    async def ask(self, resolution: Resolution, tracker: Tracker) -> Ask:
        return Ask("out_of_scope")


class ActionHelp(PersonalizedAction):
    """The "I didn't get that" answer, pointing to what this shopper usually asks about."""

    def name(self) -> str:
        return "action_help"

    async def ask(self, resolution: Resolution, tracker: Tracker) -> Ask:
        return Ask("help")


class ActionDefaultFallback(ActionHelp):
    """Rasa's core fallback (config.yml), overridden so it answers like `action_help`; like
    Rasa's own it forgets the message it could not place, so the dialogue goes on as before."""

    def name(self) -> str:
        return "action_default_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return [*await super().run(dispatcher, tracker, domain), UserUtteranceReverted()]
