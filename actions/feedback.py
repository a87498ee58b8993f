"""Thumbs up or down on the last recommendation: stored per user, variant and arm.

The rating rewards the decision once (bandit state in Redis), counts as a
conversion for experiments that convert on positive feedback, and a thumbs
down invites an optional reason.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.base import ShopAction, consented_traits
from actions.turns import (
    DECISION_SLOT,
    exposed_experiments,
    latest_intent,
    turn_cues,
)
from core.traits import UNPLACED
from experiments.decisions import REASONS, FeedbackOutcome
from personalization.outcomes import record_feedback
from personalization.profiles import DEFAULT_PROFILE
from personalization.resolution import Resolution
from personalization.responder import REASON_BUTTONS

RATINGS = {"feedback_positive": "up", "feedback_negative": "down"}


def feedback_of(tracker: Tracker) -> tuple[str | None, str | None]:
    """(rating, reason) from the latest message; unknown reasons are dropped."""
    reason = next(tracker.get_latest_entity_values("feedback_reason"), None)
    return RATINGS.get(latest_intent(tracker)), reason if reason in REASONS else None


def reply_for(rating: str | None, reason: str | None, outcome: FeedbackOutcome) -> str:
    if rating is None or outcome.status == "unknown":
        return "feedback_nothing_to_rate"
    if reason:
        return "feedback_reason_thanks"
    if rating == "down" and outcome.status == "rated":
        return "feedback_ask_reason"
    return "feedback_thanks"


class ActionRecordFeedback(ShopAction):
    """Trusts the traits slot (set by the recommendation it rates): no profile read."""

    def name(self) -> str:
        return "action_record_feedback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        services = self.services
        rating, reason = feedback_of(tracker)
        outcome = await record_feedback(
            services.chooser,
            services.store.timeout,
            tracker.sender_id,
            tracker.get_slot(DECISION_SLOT),
            rating,
            reason,
            exposed_experiments(tracker),
        )
        key = reply_for(rating, reason, outcome)
        traits = consented_traits(tracker) or UNPLACED
        resolution = Resolution(DEFAULT_PROFILE, "slot", traits=traits)
        text = services.engine.render(key, turn_cues(tracker, resolution, services.clock())).text
        buttons = list(REASON_BUTTONS) if key == "feedback_ask_reason" else []
        dispatcher.utter_message(text=text, buttons=buttons)
        return []
