"""Shared plumbing for actions that answer in the user's persona."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.catalogue import Catalogue, default_catalogue
from actions.personalization import Resolution, resolve_profile
from actions.profiles import CATEGORIES, Profile
from actions.store import ProfileStore, default_store

SEGMENT_SLOT = "segment"


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


class PersonalizedAction(Action, ABC):
    """Reads the user's profile (fresh every turn), answers, keeps the segment slot current.

    Created once per server and shared by every conversation: dependencies are
    injected (tests pass their own) and no conversation state lives on self.
    """

    def __init__(
        self, store: ProfileStore | None = None, catalogue: Catalogue | None = None
    ) -> None:
        self._store = store
        self._catalogue = catalogue

    @property
    def store(self) -> ProfileStore:
        return self._store or default_store()

    @property
    def catalogue(self) -> Catalogue:
        return self._catalogue or default_catalogue()

    @abstractmethod
    def answer(self, profile: Profile, tracker: Tracker) -> str:
        """The reply text; abstract so rasa-sdk does not register this base class."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        resolution = await resolve_profile(
            self.store, tracker.sender_id, tracker.get_slot(SEGMENT_SLOT)
        )
        dispatcher.utter_message(text=self.answer(resolution.profile, tracker))
        return segment_events(tracker, resolution)
