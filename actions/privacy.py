"""The user's say over their data, in the conversation: consent, "what do you know about me?",
"forget me". The logic lives in the privacy/ package; these actions only talk."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from redis.exceptions import RedisError

from actions.base import ShopAction
from actions.turns import (
    CONSENT_SLOT,
    SEGMENT_SLOT,
    TRAITS_SLOT,
    VERSION_SLOT,
    latest_intent,
    message_metadata,
)
from core.personas import DEFAULT
from privacy.consent import DENIED, GRANTED, record_consent
from privacy.conversations import conversations_from
from privacy.erasure import Eraser
from privacy.export import export_user, readable

logger = logging.getLogger(__name__)

CONSENT_INTENTS = {"give_consent": GRANTED, "refuse_consent": DENIED}
STORE_NAMES = {
    "profile": "profile",
    "consent": "consent record",
    "live_features": "recent activity",
    "tracker": "conversation",
    "segment_versions": "segments",
    "experiment_exposures": "experiments",
    "decisions": "logged recommendations",
    "decision_index": "logged recommendations",
    "lock": "conversation lock",
    "rate_limits": "rate-limit counters",
}


class ActionSetConsent(ShopAction):
    """Records yes or no (time, policy version, channel); takes effect on the next turn."""

    def name(self) -> str:
        return "action_set_consent"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        status = CONSENT_INTENTS.get(latest_intent(tracker), DENIED)
        channel = message_metadata(tracker).channel or tracker.get_latest_input_channel()
        store = self.services.store
        client, keys, user = store.client, store.keys, tracker.sender_id
        policy = self.services.settings.privacy.policy_version
        try:
            await record_consent(
                client, keys.namespace, user, status, channel, keys.pseudonym_key, policy
            )
            if status == DENIED:  # what was collected for personalization goes with it
                await client.delete(keys.live(user), keys.live_ids(user))
        except (RedisError, OSError) as exc:
            logger.warning("consent of %r not recorded (%s)", tracker.sender_id[:64], exc)
            dispatcher.utter_message(text=self.plain("privacy_unavailable"))
            return []
        key = "consent_granted" if status == GRANTED else "consent_denied"
        dispatcher.utter_message(text=self.plain(key))
        events: list[EventType] = [SlotSet(CONSENT_SLOT, status)]
        if status == DENIED:  # nothing about the shopper shapes the answers any more
            events += [
                SlotSet(SEGMENT_SLOT, DEFAULT),
                SlotSet(VERSION_SLOT, None),
                SlotSet(TRAITS_SLOT, None),
            ]
        return events


class ActionShowMyData(ShopAction):
    """Answers "what do you know about me?" from every store."""

    def name(self) -> str:
        return "action_show_my_data"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        try:
            store = self.services.store
            export = await export_user(
                store.client,
                store.namespace,
                tracker.sender_id,
                self.services.keyring,
                shared=store.shared_client,
                keys=store.keys,
                conversations=conversations_from(self.services.settings.conversations_url),
            )
        except (RedisError, OSError) as exc:
            logger.warning("export for %r failed (%s)", tracker.sender_id[:64], exc)
            dispatcher.utter_message(text=self.plain("privacy_unavailable"))
            return []
        dispatcher.utter_message(text=readable(export))
        return []


def receipt_summary(counts: dict[str, int]) -> str:
    parts = [
        f"{STORE_NAMES.get(store, store.replace('_', ' ').replace('stream:', 'log '))}"
        for store, n in counts.items()
        if n
    ]
    return ", ".join(dict.fromkeys(parts)) or "nothing was stored"


class ActionForgetMe(ShopAction):
    """Erases the user everywhere; this conversation's own tracker is not saved afterwards."""

    def name(self) -> str:
        return "action_forget_me"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        try:
            store = self.services.store
            eraser = Eraser(
                store.client,
                store.namespace,
                pseudonym_key=store.pseudonym_key,
                shared=store.shared_client,
                conversations=conversations_from(self.services.settings.conversations_url),
            )
            receipt = await eraser.erase([tracker.sender_id])
        except (RedisError, OSError) as exc:
            logger.warning("erasure of %r failed (%s)", tracker.sender_id[:64], exc)
            dispatcher.utter_message(text=self.plain("privacy_unavailable"))
            return []
        summary = receipt_summary(receipt[tracker.sender_id])
        dispatcher.utter_message(text=self.plain("forgotten", summary=summary))
        return []
