"""From a turn to its reply: cues, catalogue variant, arm (experiment or bandit), text, decision.

Plain async functions over injected parts, so actions stay thin and tests can
pass their own stores, experiments and clock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from rasa_sdk import Tracker
from redis.exceptions import RedisError

from actions.catalogue import Product
from actions.context import message_context
from actions.personalization import Resolution
from actions.profiles import CATEGORIES
from experiments.decisions import Decision
from experiments.policy import ArmChooser, Choice, fixed
from responses.cues import Cues, channel_of, recent_behaviour, time_of_day
from responses.engine import Rendered, ResponseEngine

logger = logging.getLogger(__name__)

DECISION_SLOT = "last_decision"
EXPERIMENTS_SLOT = "experiments"
# Thumbs under every recommendation: the light question, answered with one tap.
FEEDBACK_BUTTONS = (
    {"title": "👍 Helpful", "payload": "/feedback_positive"},
    {"title": "👎 Not for me", "payload": "/feedback_negative"},
)
REASON_BUTTONS = (
    {"title": "Too expensive", "payload": '/feedback_negative{"feedback_reason":"too_expensive"}'},
    {"title": "Not relevant", "payload": '/feedback_negative{"feedback_reason":"not_relevant"}'},
    {
        "title": "Want more detail",
        "payload": '/feedback_negative{"feedback_reason":"want_more_detail"}',
    },
)


@dataclass(frozen=True)
class Ask:
    """What an action wants to say; the responder decides the wording."""

    response: str
    category: str | None = None
    product: Product | None = None
    values: Mapping[str, object] = field(default_factory=dict)
    decision: bool = False  # a recommendation: choose an arm, log it, offer thumbs
    follow_up: str | None = None  # a second message (a question), in the same action call


@dataclass(frozen=True)
class Reply:
    rendered: Rendered
    text: str
    choice: Choice
    decision: Decision | None = None
    buttons: tuple[dict, ...] = ()
    follow_up: str | None = None


def previous_categories(tracker: Tracker, limit: int = 60) -> tuple[str, ...]:
    """Categories the user asked about earlier in this conversation (not this message)."""
    seen: list[str] = []
    user_turns = [e for e in tracker.events[-limit:] if e.get("event") == "user"]
    for event in user_turns[:-1]:
        for entity in (event.get("parse_data") or {}).get("entities") or []:
            value = entity.get("value") if isinstance(entity, dict) else None
            if entity.get("entity") == "product_category" and value in CATEGORIES:
                seen.append(value)
    return tuple(seen)


def turn_cues(tracker: Tracker, resolution: Resolution, now: float) -> Cues:
    context = message_context(tracker)
    previous = (resolution.profile.recent_category, *previous_categories(tracker))
    category = next(tracker.get_latest_entity_values("product_category"), None)
    return Cues(
        persona=resolution.persona,
        time_of_day=time_of_day(context.timezone, now),
        region=context.region if context.region and len(context.region) == 2 else None,
        channel=channel_of(context.channel, tracker.get_latest_input_channel()),
        device=context.device if context.device in ("mobile", "desktop") else None,
        recent=recent_behaviour(resolution.last_purchase, category, previous, now),
    )


async def respond(
    ask: Ask,
    cues: Cues,
    tracker: Tracker,
    engine: ResponseEngine,
    chooser: ArmChooser,
    deadline_s: float = 0.1,
    exposed: Mapping[str, str] | None = None,
    personalized: bool = True,
) -> Reply:
    """Render the answer; a slow or failed Redis means the base wording, never a failed turn.

    Not `personalized` (no consent): the base arm, no experiment, no decision logged."""
    cues = engine.cues_with_facts(cues, ask.category)
    variant = engine.variant(ask.response, cues)
    choice, decision = fixed(), None
    if ask.decision and personalized and chooser.decisions is not None:
        try:
            async with asyncio.timeout(deadline_s):
                choice = await chooser.choose(
                    ask.response,
                    variant.id,
                    variant.arm_names,
                    tracker.sender_id,
                    cues.persona,
                    exposed,
                )
                decision = Decision(
                    tracker.sender_id,
                    cues.persona,
                    ask.response,
                    variant.id,
                    choice.arm,
                    choice.policy,
                    choice.propensity,
                    variant.arm_names,
                    choice.experiments,
                )
                chooser.decisions.record_soon(decision)
        except (TimeoutError, RedisError, OSError) as exc:
            logger.warning(
                "arm choice for %r skipped (%s); using the base wording",
                tracker.sender_id[:64],
                type(exc).__name__,
            )
            choice, decision = fixed(), None
    rendered = engine.render(
        ask.response,
        cues,
        arm=choice.arm,
        variant=variant,
        compact=cues.device == "mobile",
        product=ask.product,
        **ask.values,
    )
    buttons = FEEDBACK_BUTTONS if decision is not None else ()
    follow_up = engine.render(ask.follow_up, cues).text if ask.follow_up else None
    return Reply(rendered, rendered.text, choice, decision, buttons, follow_up)
