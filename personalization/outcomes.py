"""What happened after an answer: conversions for experiments and the bandit, and feedback.

Each is bounded by the store's deadline and never fails the turn; a write that did not
happen is logged with everything needed to replay it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from redis.exceptions import RedisError

from experiments.decisions import FeedbackOutcome
from experiments.policy import ArmChooser

logger = logging.getLogger(__name__)


async def record_conversions(
    chooser: ArmChooser,
    deadline_s: float,
    sender_id: str,
    intent: str | None,
    exposed: Mapping[str, str],
    decision: str | None,
) -> None:
    """An intent that completes one of the user's experiments counts as a conversion; one of
    the bandit's conversion intents rewards the decision just before it."""
    rewarding = (
        intent in chooser.settings.conversion_intents
        and isinstance(decision, str)
        and chooser.decisions is not None
    )
    if not isinstance(intent, str) or not (exposed or rewarding):
        return
    try:
        async with asyncio.timeout(deadline_s):
            if exposed:
                await chooser.convert(sender_id, exposed, {"intent": intent})
            if rewarding:
                await chooser.decisions.convert(decision, sender_id)
    except (TimeoutError, RedisError, OSError) as exc:
        logger.warning("conversion for %r not recorded (%s)", sender_id[:64], exc)


async def record_engagement(
    chooser: ArmChooser,
    deadline_s: float,
    sender_id: str,
    exposed: Mapping[str, str],
    session_start: bool = False,
) -> None:
    """Engagement of an exposed user for the report's guardrails (experiments/exposures.py):
    a message of each of their variants, or at `session_start` a session (and a return)."""
    if not exposed or chooser.exposures is None:
        return
    try:
        async with asyncio.timeout(deadline_s):
            if session_start:
                await chooser.exposures.session_started(sender_id, list(exposed))
            else:
                await chooser.exposures.messages(dict(exposed))
    except (TimeoutError, RedisError, OSError) as exc:
        logger.warning("engagement of %r not recorded (%s)", sender_id[:64], exc)


async def record_feedback(
    chooser: ArmChooser,
    deadline_s: float,
    sender_id: str,
    decision: str | None,
    rating: str | None,
    reason: str | None,
    exposed: Mapping[str, str],
) -> FeedbackOutcome:
    """Rate the decision once; a thumbs up also converts experiments that convert on it."""
    if rating is None or not isinstance(decision, str) or chooser.decisions is None:
        return FeedbackOutcome("unknown")
    try:
        async with asyncio.timeout(deadline_s):
            outcome = await chooser.decisions.feedback(decision, sender_id, rating, reason)
            if outcome.status == "rated" and rating == "up":
                converted = {**outcome.experiments, **exposed}
                await chooser.convert(sender_id, converted, {"feedback": "positive"})
            return outcome
    except (TimeoutError, RedisError, OSError) as exc:
        # Not lost silently: the log line carries everything needed to replay it.
        logger.warning(
            "feedback not stored (%s): user=%r decision=%r rating=%s reason=%s",
            type(exc).__name__,
            sender_id[:64],
            decision,
            rating,
            reason,
        )
        return FeedbackOutcome("rated")
