"""Shared plumbing for actions that answer in the user's persona."""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from redis.exceptions import RedisError

from actions.catalogue import Catalogue, default_catalogue
from actions.defaults import default_chooser, default_generator, generation_request
from actions.personalization import SOURCE_STORE_DOWN, Resolution, resolve_profile
from actions.profiles import CATEGORIES, Profile
from actions.responding import DECISION_SLOT, EXPERIMENTS_SLOT, Ask, Reply, respond, turn_cues
from actions.store import ProfileStore, default_store
from experiments.policy import ArmChooser
from privacy.consent import GRANTED
from responses.cues import Cues
from responses.engine import ResponseEngine, default_engine
from responses.generation import Generator

logger = logging.getLogger(__name__)

SEGMENT_SLOT = "segment"
CONSENT_SLOT = "consent"  # granted / denied as last recorded, or "asked" this session
ASKED = "asked"
CONSENT_BUTTONS = (
    {"title": "Yes, personalize", "payload": "/give_consent"},
    {"title": "No thanks", "payload": "/refuse_consent"},
)
CONSENT_QUESTION = (
    "May I use what you tell me and buy here to tailor my answers to you? "
    "You can change your mind any time, ask what I know about you, or say 'forget me'."
)


def known_segment(tracker: Tracker) -> str | None:
    """The segment slot, only for users who consented (the store-down fallback)."""
    if tracker.get_slot(CONSENT_SLOT) != GRANTED:
        return None
    return tracker.get_slot(SEGMENT_SLOT)


def should_ask_consent(tracker: Tracker, resolution: Resolution) -> bool:
    """Once per session, when Redis answered and the user has not said yes or no yet."""
    return (
        resolution.consent is None
        and resolution.source != SOURCE_STORE_DOWN
        and tracker.get_slot(CONSENT_SLOT) != ASKED
    )


def segment_events(tracker: Tracker, resolution: Resolution) -> list[EventType]:
    """Set the segment slot only when it changed, so trackers stay small."""
    if tracker.get_slot(SEGMENT_SLOT) == resolution.persona:
        return []
    return [SlotSet(SEGMENT_SLOT, resolution.persona)]


def requested_category(tracker: Tracker) -> str | None:
    """The category named in this message, else the one the conversation is about."""
    latest = next(tracker.get_latest_entity_values("product_category"), None)
    for value in (latest, tracker.get_slot("product_category")):
        if isinstance(value, str) and value in CATEGORIES:
            return value
    return None


def exposed_experiments(tracker: Tracker) -> dict[str, str]:
    value = tracker.get_slot(EXPERIMENTS_SLOT)
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str)}


def reply_events(tracker: Tracker, reply: Reply) -> list[EventType]:
    """Record the decision and any first exposure on the tracker."""
    events: list[EventType] = []
    if reply.decision is not None:
        events.append(SlotSet(DECISION_SLOT, reply.decision.id))
    exposed = exposed_experiments(tracker)
    if reply.choice.experiments and not reply.choice.experiments.items() <= exposed.items():
        events.append(SlotSet(EXPERIMENTS_SLOT, {**exposed, **reply.choice.experiments}))
    return events


class PersonalizedAction(Action, ABC):
    """Reads the user's profile (fresh every turn), answers, keeps the segment slot current.

    Created once per server and shared by every conversation: dependencies are
    injected (tests pass their own) and no conversation state lives on self.
    """

    def __init__(
        self,
        store: ProfileStore | None = None,
        catalogue: Catalogue | None = None,
        engine: ResponseEngine | None = None,
        chooser: ArmChooser | None = None,
        clock: Callable[[], float] = time.time,
        generator: Generator | None | bool = True,  # True: endpoints.yml decides
    ) -> None:
        self._store = store
        self._catalogue = catalogue
        self._engine = engine
        self._chooser = chooser
        self.clock = clock
        self._generator = generator

    @property
    def generator(self) -> Generator | None:
        if self._generator is True:
            return default_generator(self.store)
        return self._generator or None

    @property
    def store(self) -> ProfileStore:
        return self._store or default_store()

    @property
    def catalogue(self) -> Catalogue:
        return self._catalogue or default_catalogue()

    @property
    def engine(self) -> ResponseEngine:
        if self._engine is not None:
            return self._engine
        if self._catalogue is not None:
            self._engine = default_engine().with_products(self._catalogue)
            return self._engine
        return default_engine()

    @property
    def chooser(self) -> ArmChooser:
        return self._chooser or default_chooser(self.store)

    @abstractmethod
    def ask(self, profile: Profile, tracker: Tracker) -> Ask:
        """What to answer; abstract so rasa-sdk does not register this base class."""

    async def record_conversions(self, tracker: Tracker) -> None:
        """An intent that completes one of the user's experiments counts as a conversion;
        one of the bandit's conversion intents rewards the decision just before it."""
        exposed = exposed_experiments(tracker)
        intent = (tracker.latest_message or {}).get("intent", {}).get("name")
        decision = tracker.get_slot(DECISION_SLOT)
        chooser = self.chooser
        rewarding = (
            intent in chooser.settings.conversion_intents
            and isinstance(decision, str)
            and chooser.decisions is not None
        )
        if not isinstance(intent, str) or not (exposed or rewarding):
            return
        try:
            async with asyncio.timeout(self.store.timeout):
                if exposed:
                    await chooser.convert(tracker.sender_id, exposed, {"intent": intent})
                if rewarding:
                    await chooser.decisions.convert(decision, tracker.sender_id)
        except (TimeoutError, RedisError, OSError) as exc:
            logger.warning("conversion for %r not recorded (%s)", tracker.sender_id[:64], exc)

    async def reply(self, tracker: Tracker, resolution: Resolution) -> tuple[Reply, Cues]:
        """Without consent: default persona, no experiments or bandit, no generated text."""
        cues = turn_cues(tracker, resolution, self.clock())
        ask = self.ask(resolution.profile, tracker)
        reply = await respond(
            ask,
            cues,
            tracker,
            self.engine,
            self.chooser,
            self.store.timeout,
            exposed_experiments(tracker),
            personalized=resolution.personalized,
        )
        generator = self.generator if ask.decision and resolution.personalized else None
        if generator is not None:
            result = await generator.rewrite(generation_request(reply, cues, tracker))
            reply = replace(reply, text=result.text)
        return reply, cues

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        resolution = await resolve_profile(self.store, tracker.sender_id, known_segment(tracker))
        if resolution.personalized:
            await self.record_conversions(tracker)
        reply, _ = await self.reply(tracker, resolution)
        dispatcher.utter_message(text=reply.text, buttons=list(reply.buttons))
        events = segment_events(tracker, resolution) + reply_events(tracker, reply)
        if should_ask_consent(tracker, resolution):
            # Replaces any follow-up question, so a typed "yes" has one meaning.
            dispatcher.utter_message(text=CONSENT_QUESTION, buttons=list(CONSENT_BUTTONS))
            return [*events, SlotSet(CONSENT_SLOT, ASKED)]
        if reply.follow_up:
            # Asked here rather than by a separate action: each custom action call costs
            # Rasa tens of milliseconds of CPU (bench/responses.py).
            dispatcher.utter_message(text=reply.follow_up)
        return events
