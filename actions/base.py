"""What every action of this shop shares: its services, and answering in the shopper's
segment, traits and facts."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.turns import (
    CONSENT_SLOT,
    DECISION_SLOT,
    EXPERIMENTS_SLOT,
    SEGMENT_SLOT,
    SHOWN_SLOT,
    TRAITS_SLOT,
    VERSION_SLOT,
    exposed_experiments,
    latest_intent,
    turn_cues,
)
from core.settings import Settings
from core.traits import Traits
from personalization.outcomes import record_conversions, record_engagement
from personalization.resolution import (
    SOURCE_STORE_DOWN,
    Resolution,
    known_traits,
    resolve_profile,
)
from personalization.responder import Ask, Reply, Turn
from personalization.services import Services, build_services
from privacy.consent import GRANTED
from responses.blocks import slack_message
from responses.cues import Cues
from responses.rich import products_payload
from shop.backend import ShopStores

PLAIN_CUES = Cues()

ASKED = "asked"
CONSENT_BUTTONS = (
    {"title": "Yes, personalize", "payload": "/give_consent"},
    {"title": "No thanks", "payload": "/refuse_consent"},
)


class ShopAction(Action, ABC):
    """An action of this shop, created once per server and shared by every conversation.

    The action server builds the services once and passes them in (`rasa run actions`
    too, through actionserver/plugin.py); no conversation state lives on self. An action
    created without them (rasa-sdk's own executor, a test) builds its own from the
    environment on first use.
    """

    def __init__(self, services: Services | None = None) -> None:
        self._services = services
        self._shop: ShopStores | None = None

    @property
    def services(self) -> Services:
        if self._services is None:
            self._services = build_services(Settings.from_env())
        return self._services

    @property
    def shop(self) -> ShopStores:
        """Carts and orders, on the profile store's Redis clients (built on first use)."""
        if self._shop is None:
            self._shop = ShopStores.beside(self.services.store, self.services.settings.stream)
        return self._shop

    @abstractmethod
    def name(self) -> str:
        """Abstract, so rasa-sdk does not register this base class."""

    def plain(self, key: str, **values: object) -> str:
        """A catalogue response that is the same for everyone (privacy answers)."""
        return self.services.engine.render(key, PLAIN_CUES, **values).text


def consented_traits(tracker: Tracker) -> Traits | None:
    """The traits slot, only for users who consented (the store-down fallback)."""
    if tracker.get_slot(CONSENT_SLOT) != GRANTED:
        return None
    return known_traits(tracker.get_slot(TRAITS_SLOT))


def should_ask_consent(tracker: Tracker, resolution: Resolution) -> bool:
    """Once per session, when Redis answered and the user has not said yes or no yet."""
    return (
        resolution.consent is None
        and resolution.source != SOURCE_STORE_DOWN
        and tracker.get_slot(CONSENT_SLOT) != ASKED
    )


def segment_slots(resolution: Resolution) -> dict[str, object]:
    """Which segment and version shaped the turn, and the traits used: every turn in a
    tracker says it (`segment export` carries them)."""
    if resolution.source == SOURCE_STORE_DOWN and resolution.traits.placed:
        return {}  # kept from an earlier turn: the slots already say so
    slots: dict[str, object] = {
        SEGMENT_SLOT: resolution.segment_id or resolution.persona,
        VERSION_SLOT: resolution.version if resolution.segment_id else None,
        TRAITS_SLOT: resolution.traits.as_dict(),
    }
    if resolution.personalized:  # as recorded: lets the store-down fallback use the traits
        slots[CONSENT_SLOT] = GRANTED
    return slots


def segment_events(tracker: Tracker, resolution: Resolution) -> list[EventType]:
    """Set the segment slots only when they changed, so trackers stay small."""
    return [
        SlotSet(name, value)
        for name, value in segment_slots(resolution).items()
        if tracker.get_slot(name) != value
    ]


def reply_events(reply: Reply, exposed: Mapping[str, str]) -> list[EventType]:
    """Record the decision and any first exposure (beside `exposed`, the slot's) on the
    tracker."""
    events: list[EventType] = []
    if reply.decision is not None:
        events.append(SlotSet(DECISION_SLOT, reply.decision.id))
    if reply.choice.experiments and not reply.choice.experiments.items() <= exposed.items():
        events.append(SlotSet(EXPERIMENTS_SLOT, {**exposed, **reply.choice.experiments}))
    return events


def unchanged(tracker: Tracker, event: EventType) -> bool:
    """A slot event that sets what the slot already holds (kept out: trackers stay small)."""
    return event.get("event") == "slot" and tracker.get_slot(event["name"]) == event["value"]


def payload_of(ask: Ask, reply: Reply) -> dict | None:
    """The rich payload of an answer: its own, or cards of the products it shows."""
    if ask.payload is not None:
        return dict(ask.payload)
    if ask.cards and reply.rendered.products:
        title = reply.text.split("\n", 1)[0]
        return products_payload(title, reply.rendered.products, reply.notes)
    return None


def send(
    dispatcher: CollectingDispatcher, text: str, buttons: tuple, payload: dict | None, channel: str
) -> None:
    """One answer in the channel's best form. Slack gets only Block Kit (one message, the
    text inside); the web chat draws the items as cards, so their bullet lines leave the
    text; REST and the rest keep the full text with the payload alongside."""
    if payload is None:
        dispatcher.utter_message(text=text, buttons=list(buttons))
    elif channel == "slack":
        dispatcher.utter_message(json_message=slack_message(text, buttons, payload))
    else:
        if channel == "web":
            text = "\n".join(line for line in text.split("\n") if not line.startswith("• "))
        dispatcher.utter_message(text=text, buttons=list(buttons), json_message=payload)


def turn_of(tracker: Tracker, resolution: Resolution, now: float) -> Turn:
    return Turn(
        tracker.sender_id,
        turn_cues(tracker, resolution, now),
        resolution.personalized,
        exposed_experiments(tracker),
    )


class PersonalizedAction(ShopAction):
    """Reads the user's profile (fresh every turn), answers, keeps the segment slot current."""

    asks_consent = True  # a goodbye does not start the consent question

    @abstractmethod
    async def ask(self, resolution: Resolution, tracker: Tracker) -> Ask | None:
        """What to answer (async: a cart or an order is read from Redis first); None:
        nothing to add to what Rasa already said (a policy that is the same for everyone)."""

    def events(self, ask: Ask, reply: Reply) -> list[EventType]:
        """Slots the answer sets besides the segment's (the products it showed)."""
        if ask.cards and reply.rendered.products:
            return [SlotSet(SHOWN_SLOT, [p.id for p in reply.rendered.products])]
        return []

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        services = self.services
        store = services.store
        resolution = await resolve_profile(store, tracker.sender_id, consented_traits(tracker))
        turn = turn_of(tracker, resolution, services.clock())
        if resolution.personalized:
            await record_conversions(
                services.chooser,
                store.timeout,
                tracker.sender_id,
                latest_intent(tracker),
                turn.exposed,
                tracker.get_slot(DECISION_SLOT),
            )
            await record_engagement(
                services.chooser, store.timeout, tracker.sender_id, turn.exposed
            )
        ask = await self.ask(resolution, tracker)
        if ask is None:
            return segment_events(tracker, resolution)
        reply = await services.responder.reply(ask, turn)
        send(dispatcher, reply.text, reply.buttons, payload_of(ask, reply), turn.cues.channel)
        events = segment_events(tracker, resolution) + reply_events(reply, turn.exposed)
        events += [e for e in self.events(ask, reply) if not unchanged(tracker, e)]
        if self.asks_consent and should_ask_consent(tracker, resolution):
            # Replaces any follow-up question, so a typed "yes" has one meaning.
            question = services.engine.render("consent_question", turn.cues).text
            dispatcher.utter_message(text=question, buttons=list(CONSENT_BUTTONS))
            return [*events, SlotSet(CONSENT_SLOT, ASKED)]
        if reply.follow_up:
            # Asked here rather than by a separate action: each custom action call costs
            # Rasa tens of milliseconds of CPU (bench/responses.py).
            dispatcher.utter_message(text=reply.follow_up)
        return events
