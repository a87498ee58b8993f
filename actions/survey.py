"""The post-conversation survey: satisfaction 1-5 and an optional comment, asked once per
conversation at its end, only after a recommendation and only with the shopper's consent.

The flow (data/rules.yml): action_goodbye asks the question when `survey_due` (a goodbye
typed, or the web chat's close button sending one); a score starts survey_form, whose
validation stores it (experiments/surveys.py) and re-asks a score outside 1-5; the form then
asks for a comment, and action_record_survey stores it and closes the survey. Skip closes
it at either question. The `survey` slot (asked, rated, done) keeps it to once per session.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import REQUESTED_SLOT, FormValidationAction
from redis.exceptions import RedisError

from actions.base import ShopAction
from actions.turns import CONSENT_SLOT, DECISION_SLOT, SEGMENT_SLOT, latest_intent
from experiments.surveys import SCORES, clean_comment, parse_score
from personalization.resolution import resolve_profile
from personalization.services import Services
from privacy.consent import GRANTED

logger = logging.getLogger(__name__)

SURVEY_SLOT = "survey"
SCORE_SLOT = "satisfaction"
COMMENT_SLOT = "survey_comment"
ASKED, RATED, DONE = "asked", "rated", "done"
SKIP_INTENT = "survey_skip"
SKIP = {"title": "Skip", "payload": f"/{SKIP_INTENT}"}
SCORE_BUTTONS = (
    *({"title": str(n), "payload": f'/survey_rate{{"satisfaction": {n}}}'} for n in SCORES),
    SKIP,
)


def slot_after(tracker: Tracker, events: list[EventType], name: str) -> Any:
    """The slot's value once `events` are applied."""
    found = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == name]
    return found[-1] if found else tracker.get_slot(name)


def survey_due(tracker: Tracker, events: list[EventType]) -> bool:
    """Not asked yet this session, a recommendation was given, and the shopper consented."""
    decision = slot_after(tracker, events, DECISION_SLOT)
    return (
        tracker.get_slot(SURVEY_SLOT) is None
        and isinstance(decision, str)
        and bool(decision)
        and slot_after(tracker, events, CONSENT_SLOT) == GRANTED
    )


def closed() -> list[EventType]:
    """Close the survey: its answers leave the slots, the form stops."""
    return [
        SlotSet(SCORE_SLOT, None),
        SlotSet(COMMENT_SLOT, None),
        SlotSet(REQUESTED_SLOT, None),
        ActiveLoop(None),
    ]


def ask_survey(action: ShopAction, dispatcher: CollectingDispatcher) -> list[EventType]:
    dispatcher.utter_message(text=action.plain("survey_question"), buttons=list(SCORE_BUTTONS))
    return [SlotSet(SURVEY_SLOT, ASKED)]


class ActionAskSatisfaction(ShopAction):
    """The form's question for the score (re-asked after a score outside 1-5)."""

    def name(self) -> str:
        return "action_ask_satisfaction"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(text=self.plain("survey_question"), buttons=list(SCORE_BUTTONS))
        return []


class ActionAskSurveyComment(ShopAction):
    def name(self) -> str:
        return "action_ask_survey_comment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(text=self.plain("survey_ask_comment"), buttons=[SKIP])
        return []


class ValidateSurveyForm(FormValidationAction, ShopAction):
    """Stores the score, once per decision, after checking consent in Redis again (it may
    have been withdrawn since the question)."""

    def __init__(self, services: Services | None = None) -> None:
        ShopAction.__init__(self, services)

    def name(self) -> str:
        return "validate_survey_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: dict[str, Any],
    ) -> list[str]:
        state = tracker.get_slot(SURVEY_SLOT)
        if state == RATED:
            return domain_slots
        return [SCORE_SLOT] if state == ASKED else []  # not open: the form ends at once

    async def validate_satisfaction(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict[str, Any]:
        if tracker.get_slot(SURVEY_SLOT) != ASKED:
            return {}  # already rated: the comment is next
        score = parse_score(value)
        if score is None:
            dispatcher.utter_message(text=self.plain("survey_bad_score"))
            return {SCORE_SLOT: None}  # the form asks again
        status = await self.store_score(tracker, score)
        if status != "stored":
            return {SCORE_SLOT: None, SURVEY_SLOT: DONE}
        return {SCORE_SLOT: score, SURVEY_SLOT: RATED}

    async def store_score(self, tracker: Tracker, score: int) -> str:
        services = self.services
        store = services.surveys
        if store is None:
            return "unknown"
        try:
            async with asyncio.timeout(services.store.timeout * 2):
                resolution = await resolve_profile(services.store, tracker.sender_id, None)
                if not resolution.personalized:
                    return "no_consent"
                segment = tracker.get_slot(SEGMENT_SLOT)
                segment = segment if isinstance(segment, str) else resolution.persona
                decision = tracker.get_slot(DECISION_SLOT)
                return await store.score(decision, tracker.sender_id, score, segment)
        except (TimeoutError, RedisError, OSError) as exc:
            logger.warning("survey score not stored (%s): %s", type(exc).__name__, score)
            return "error"


class ActionRecordSurvey(ShopAction):
    """The survey's end: the comment (if any) is stored, the shopper is thanked."""

    def name(self) -> str:
        return "action_record_survey"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        state = tracker.get_slot(SURVEY_SLOT)
        if state == RATED:
            await self.store_comment(tracker)
            key = "survey_thanks"
        elif state == ASKED and latest_intent(tracker) == SKIP_INTENT:
            key = "survey_skipped"
        else:
            key = "survey_not_open"
        dispatcher.utter_message(text=self.plain(key))
        done = [SlotSet(SURVEY_SLOT, DONE)] if state in (ASKED, RATED) else []
        return [*done, *closed()]

    async def store_comment(self, tracker: Tracker) -> None:
        comment = clean_comment(tracker.get_slot(COMMENT_SLOT))
        store = self.services.surveys
        if not comment or store is None:
            return
        segment = tracker.get_slot(SEGMENT_SLOT)
        segment = segment if isinstance(segment, str) else ""
        try:
            async with asyncio.timeout(self.services.store.timeout):
                decision = tracker.get_slot(DECISION_SLOT)
                await store.comment(decision, tracker.sender_id, comment, segment)
        except (TimeoutError, RedisError, OSError) as exc:
            logger.warning("survey comment not stored (%s)", type(exc).__name__)
