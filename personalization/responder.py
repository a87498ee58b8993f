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
from generation.client import Generator
from generation.prompt import ProductFact, WritingRequest
from responses.cues import Cues
from responses.engine import Rendered, ResponseEngine
from responses.listing import price_text

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


@dataclass(frozen=True)
class Reply:
    rendered: Rendered
    text: str
    choice: Choice
    decision: Decision | None = None
    buttons: tuple[dict, ...] = ()
    follow_up: str | None = None
    notes: tuple[str, ...] = ()  # per product shown: the model's reason, when it wrote one


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
            request = writing_request(ask.response, reply, cues, self.engine.products)
            result = await self.generator.write(request)
            reply = replace(reply, text=result.text, notes=result.reasons)
        return reply

    async def warm_up(self) -> bool:
        """Warm the generator with a recommendation for an unplaced shopper (start-up)."""
        if self.generator is None:
            return False
        cues = Cues()
        rendered = self.engine.render("recommend", cues)
        reply = Reply(rendered, rendered.text, fixed())
        return await self.generator.warm_up(
            writing_request("recommend", reply, cues, self.engine.products)
        )

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


def writing_request(
    kind: str, reply: Reply, cues: Cues, catalogue: ProductCatalogue
) -> WritingRequest:
    """What the model may see: the segment's traits, coarse facts about the shopper and the
    catalogue facts of the products the engine picked; never the shopper's words or ids."""
    facts = tuple(product_fact(p, catalogue) for p in reply.rendered.products)
    return WritingRequest(
        kind,
        cues.traits,
        facts,
        reply.text,
        cues.channel,
        cues.time_of_day,
        cues.device,
        cues.price_band,
        cues.favourite,
        cues.last_order,
    )


def product_fact(p: Product, catalogue: ProductCatalogue) -> ProductFact:
    return ProductFact(
        p.name, p.category, price_text(p), p.highlight, p.key_spec, p.on_deal, catalogue.is_new(p)
    )
