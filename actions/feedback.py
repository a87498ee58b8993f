"""Thumbs up or down on the last recommendation: stored per user, variant and arm.

The rating rewards the decision once (bandit state in Redis), counts as a
conversion for experiments that convert on positive feedback, and a thumbs
down invites an optional reason.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from redis.exceptions import RedisError

from actions.base import SEGMENT_SLOT, PersonalizedAction, exposed_experiments
from actions.personalization import Resolution
from actions.personas import persona_or_default
from actions.profiles import Profile
from actions.responding import DECISION_SLOT, REASON_BUTTONS, Ask, turn_cues
from experiments.decisions import REASONS, FeedbackOutcome

logger = logging.getLogger(__name__)

RATINGS = {"feedback_positive": "up", "feedback_negative": "down"}


def feedback_of(tracker: Tracker) -> tuple[str | None, str | None]:
    """(rating, reason) from the latest message; unknown reasons are dropped."""
    intent = (tracker.latest_message or {}).get("intent", {}).get("name")
    reason = next(tracker.get_latest_entity_values("feedback_reason"), None)
    return RATINGS.get(intent), reason if reason in REASONS else None


def reply_for(rating: str | None, reason: str | None, outcome: FeedbackOutcome) -> str:
    if rating is None or outcome.status == "unknown":
        return "feedback_nothing_to_rate"
    if reason:
        return "feedback_reason_thanks"
    if rating == "down" and outcome.status == "rated":
        return "feedback_ask_reason"
    return "feedback_thanks"


class ActionRecordFeedback(PersonalizedAction):
    """Trusts the segment slot (set by the recommendation it rates): no profile read."""

    def name(self) -> str:
        return "action_record_feedback"

    def ask(self, profile: Profile, tracker: Tracker) -> Ask:  # pragma: no cover - run() decides
        return Ask("feedback_thanks")

    async def store_feedback(self, tracker: Tracker, rating: str | None, reason: str | None):
        decision = tracker.get_slot(DECISION_SLOT)
        if rating is None or not isinstance(decision, str) or self.chooser.decisions is None:
            return FeedbackOutcome("unknown")
        try:
            async with asyncio.timeout(self.store.timeout):
                outcome = await self.chooser.decisions.feedback(
                    decision, tracker.sender_id, rating, reason
                )
                if outcome.status == "rated" and rating == "up":
                    exposed = {**outcome.experiments, **exposed_experiments(tracker)}
                    await self.chooser.convert(tracker.sender_id, exposed, {"feedback": "positive"})
                return outcome
        except (TimeoutError, RedisError, OSError) as exc:
            # Not lost silently: the log line carries everything needed to replay it.
            logger.warning(
                "feedback not stored (%s): user=%r decision=%r rating=%s reason=%s",
                type(exc).__name__,
                tracker.sender_id[:64],
                decision,
                rating,
                reason,
            )
            return FeedbackOutcome("rated")

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        rating, reason = feedback_of(tracker)
        outcome = await self.store_feedback(tracker, rating, reason)
        key = reply_for(rating, reason, outcome)
        persona = persona_or_default(tracker.get_slot(SEGMENT_SLOT))
        cues = turn_cues(tracker, Resolution(Profile(segment=persona), "slot"), self.clock())
        text = self.engine.render(key, cues).text
        buttons = list(REASON_BUTTONS) if key == "feedback_ask_reason" else []
        dispatcher.utter_message(text=text, buttons=buttons)
        return []
