"""From what an action wants to say to the reply a user reads: catalogue variant, arm
(experiment or bandit), wording, optional generated text, logged decision, quick replies.

One object does it, built once per server with the engine, the chooser and the generator,
so an action hands over an `Ask` and the turn's facts and gets a `Reply` back. It knows
nothing of Rasa: tests and benchmarks drive it directly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from redis.exceptions import RedisError

from core.products import Product, ProductCatalogue
from experiments.decisions import Decision
from experiments.policy import ArmChooser, Choice, fixed
from responses.cues import Cues
from responses.engine import Rendered, ResponseEngine
from responses.generation import Generator
from responses.guarding import GenerationRequest, ProductFact
from responses.listing import euros

logger = logging.getLogger(__name__)

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
    within: ProductCatalogue | None = None  # a listing of these products only (a budget's)
    cards: bool = False  # the products shown also go out as cards (responses/rich.py)
    payload: Mapping | None = None  # a rich payload of its own (a comparison, a cart)
    buttons: tuple[dict, ...] = ()  # quick replies under the answer


@dataclass(frozen=True)
class Turn:
    """The facts of the turn the reply is for."""

    sender_id: str
    cues: Cues
    personalized: bool = True  # consented: experiments, bandit, logged decisions, generation
    exposed: Mapping[str, str] = field(default_factory=dict)  # experiment -> variant so far
    text: str = ""  # what the user wrote (the generator's context)


@dataclass(frozen=True)
class Reply:
    rendered: Rendered
    text: str
    choice: Choice
    decision: Decision | None = None
    buttons: tuple[dict, ...] = ()
    follow_up: str | None = None


class Responder:
    """Renders replies; a slow or failed Redis or generator means the base wording, never a
    failed turn."""

    def __init__(
        self,
        engine: ResponseEngine,
        chooser: ArmChooser,
        generator: Generator | None = None,
        deadline_s: float = 0.1,
    ) -> None:
        self.engine, self.chooser, self.generator = engine, chooser, generator
        self.deadline_s = deadline_s

    async def reply(self, ask: Ask, turn: Turn) -> Reply:
        """Without consent (`turn.personalized` false): the base arm, no experiment, no
        decision logged, no generated text."""
        cues = self.engine.cues_with_facts(turn.cues, ask.category, ask.within)
        variant = self.engine.variant(ask.response, cues)
        choice, decision = fixed(), None
        if ask.decision and turn.personalized and self.chooser.decisions is not None:
            choice, decision = await self._choose(ask, turn, cues, variant)
        rendered = self.engine.render(
            ask.response,
            cues,
            arm=choice.arm,
            variant=variant,
            compact=cues.device == "mobile",
            product=ask.product,
            within=ask.within,
            **ask.values,
        )
        buttons = FEEDBACK_BUTTONS if decision is not None else ask.buttons
        follow_up = self.engine.render(ask.follow_up, cues).text if ask.follow_up else None
        reply = Reply(rendered, rendered.text, choice, decision, buttons, follow_up)
        if self.generator is not None and ask.decision and turn.personalized:
            result = await self.generator.rewrite(generation_request(reply, cues, turn.text))
            reply = replace(reply, text=result.text)
        return reply

    async def _choose(self, ask: Ask, turn: Turn, cues: Cues, variant) -> tuple[Choice, Decision]:
        try:
            async with asyncio.timeout(self.deadline_s):
                choice = await self.chooser.choose(
                    ask.response,
                    variant.id,
                    variant.arm_names,
                    turn.sender_id,
                    cues.persona,
                    turn.exposed,
                )
        except (TimeoutError, RedisError, OSError) as exc:
            logger.warning(
                "arm choice for %r skipped (%s); using the base wording",
                turn.sender_id[:64],
                type(exc).__name__,
            )
            return fixed(), None
        decision = Decision(
            turn.sender_id,
            cues.persona,
            ask.response,
            variant.id,
            choice.arm,
            choice.policy,
            choice.propensity,
            variant.arm_names,
            choice.experiments,
        )
        self.chooser.decisions.record_soon(decision)
        return choice, decision


def generation_request(reply: Reply, cues: Cues, user_text: str) -> GenerationRequest:
    """What the generator may see: persona, coarse cues, the facts of the products shown."""
    facts = tuple(
        ProductFact(p.name, euros(p.price), euros(p.deal_price) if p.on_deal else None, p.highlight)
        for p in reply.rendered.products
    )
    return GenerationRequest(
        cues.persona, cues.coarse(), facts, reply.text, user_text, cues.channel
    )
