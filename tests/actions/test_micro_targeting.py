"""Segments learned from data shape the answer, and the shopper's own facts refine it: real
rasa-sdk objects, the real domain, a real Redis with a published version."""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

import pytest
import redis
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.recommendations import ActionRecommendProducts
from actions.small_talk import ActionDefaultFallback, ActionThank
from core.traits import from_profile
from experiments.policy import ArmChooser
from personalization.resolution import (
    SOURCE_OVERRIDE,
    SOURCE_PUBLISHED,
    SOURCE_UNPLACED,
    resolve_profile,
)
from personalization.store import ProfileStore
from privacy.consent import GRANTED, record_consent
from segmentation.publish import Keys, publish
from tests.conftest import services

BASE = ArmChooser(None, None)
SPEC = {"preprocess": {}, "model": {"kind": "centroid"}, "segments": ["seg-01", "seg-02"]}
DEALS = from_profile({"share_deals": 2.0, "avg_order_value": -1.0}).as_dict()
SPECS = from_profile({"share_specs": 2.0, "avg_order_value": 1.5}).as_dict()


def meta(segments: list[dict]) -> dict:
    return {"algorithm": "kmeans", "segments": segments}


@pytest.fixture
def sync(redis_url):
    return redis.Redis.from_url(redis_url)


async def shopper(store: ProfileStore, user: str) -> str:
    await record_consent(store.client, store.namespace, user, GRANTED, "rest")
    return user


def published(sync, store: ProfileStore, assignments: dict[str, str], segments: list[dict]) -> str:
    users = list(assignments)
    summary = publish(
        sync, users, [assignments[u] for u in users], meta(segments), SPEC, Keys(store.namespace)
    )
    return summary["version"]


def tracker(sender: str, text: str, intent: str, slots: dict | None = None) -> Tracker:
    return Tracker.from_dict(
        {
            "sender_id": sender,
            "slots": {"segment": None, "product_category": None, "product": None, **(slots or {})},
            "latest_message": {"text": text, "intent": {"name": intent}, "entities": []},
            "events": [{"event": "user", "text": text, "parse_data": {"entities": []}}],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        }
    )


async def answer(action, t: Tracker, domain) -> tuple[list[dict[str, Any]], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, domain)
    return dispatcher.messages, events


def slots(events) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


async def bought(store: ProfileStore, user: str, amount: float, category: str, ago_s: float):
    """What the feature worker writes when the gateway ingests a purchase."""
    await store.client.hset(
        store.keys.live(user),
        mapping={
            "purchases": 1,
            "monetary": amount,
            "last_category": category,
            "last_purchase": time.time() - ago_s,
        },
    )


async def test_two_shoppers_in_one_segment_get_answers_from_their_own_history(store, sync, domain):
    cheap = await shopper(store, f"cheap-{uuid.uuid4().hex[:6]}")
    premium = await shopper(store, f"premium-{uuid.uuid4().hex[:6]}")
    version = published(
        sync,
        store,
        {cheap: "seg-01", premium: "seg-01"},
        [{"id": "seg-01", "persona": "bargain_hunter", "traits": DEALS}],
    )
    await bought(store, cheap, 39.0, "headphones", 3 * 86400)
    await bought(store, premium, 2299.0, "laptops", 3 * 86400)
    action = ActionRecommendProducts(services(store, chooser=BASE))

    cheap_msgs, cheap_events = await answer(
        action, tracker(cheap, "what would you suggest?", "ask_recommendation"), domain
    )
    premium_msgs, _ = await answer(
        action, tracker(premium, "what would you suggest?", "ask_recommendation"), domain
    )

    cheap_text, premium_text = cheap_msgs[0]["text"], premium_msgs[0]["text"]
    assert cheap_text != premium_text
    assert "•" in cheap_text and "•" in premium_text  # suggestions, not a question back
    # What goes with the purchase, not the purchase's own category again.
    assert "smartphones for you" in cheap_text and "to go with your headphones" in cheap_text
    assert "headphones for you" in premium_text and "to go with your laptop" in premium_text
    assert "budget price range" in cheap_text and "premium price range" in premium_text
    # The turn says which segment, version and traits shaped it.
    assert slots(cheap_events)["segment"] == "seg-01"
    assert slots(cheap_events)["segment_version"] == version
    assert slots(cheap_events)["traits"]["price_sensitivity"] == DEALS["price_sensitivity"]


async def test_the_published_traits_choose_the_answer_not_a_persona_name(store, sync, domain):
    deals = await shopper(store, f"deals-{uuid.uuid4().hex[:6]}")
    specs = await shopper(store, f"specs-{uuid.uuid4().hex[:6]}")
    # Both segments carry the same persona name; only their traits differ.
    published(
        sync,
        store,
        {deals: "seg-01", specs: "seg-02"},
        [
            {"id": "seg-01", "persona": "casual_browser", "traits": DEALS},
            {"id": "seg-02", "persona": "casual_browser", "traits": SPECS},
        ],
    )
    action = ActionRecommendProducts(services(store, chooser=BASE))
    ask = "can you recommend a laptop?"
    slots_ = {"product_category": "laptops"}
    deals_msgs, _ = await answer(action, tracker(deals, ask, "ask_recommendation", slots_), domain)
    specs_msgs, _ = await answer(action, tracker(specs, ask, "ask_recommendation", slots_), domain)
    assert deals_msgs[0]["text"].startswith("Best-value laptops for you:")
    assert "% off" in deals_msgs[0]["text"].splitlines()[1]
    assert specs_msgs[0]["text"].startswith("The most capable laptops for you:")
    assert "processor:" in specs_msgs[0]["text"]
    thank = ActionThank(services(store, chooser=BASE))
    deals_thanks, _ = await answer(thank, tracker(deals, "thanks", "thank"), domain)
    specs_thanks, _ = await answer(thank, tracker(specs, "thanks", "thank"), domain)
    assert "deals" in deals_thanks[0]["text"] and "specs" in specs_thanks[0]["text"]


async def test_an_unplaced_shopper_gets_the_no_segment_yet_answer(store, domain):
    user = await shopper(store, f"new-{uuid.uuid4().hex[:6]}")
    messages, events = await answer(
        ActionRecommendProducts(services(store, chooser=BASE)),
        tracker(user, "what would you suggest?", "ask_recommendation"),
        domain,
    )
    assert messages[0]["text"].startswith("Happy to help you find something!")
    assert slots(events)["segment"] == "default" and "segment_version" not in slots(events)
    help_msgs, help_events = await answer(
        ActionDefaultFallback(services(store, chooser=BASE)),
        tracker(user, "blorp", "nlu_fallback"),
        domain,
    )
    assert help_msgs[0]["text"].startswith("Sorry, I didn't quite get that.")
    assert help_events[-1]["event"] == "rewind"  # like Rasa's own fallback


async def test_old_versions_missing_segments_and_bad_traits_fall_back_with_warnings(
    store, sync, caplog
):
    old, bad, gone = [await shopper(store, f"{n}-{uuid.uuid4().hex[:6]}") for n in "abc"]
    published(
        sync,
        store,
        {old: "seg-01", bad: "seg-02", gone: "seg-09"},
        [
            {"id": "seg-01", "persona": "tech_enthusiast"},  # published before traits
            {"id": "seg-02", "persona": "bargain_hunter", "traits": {**DEALS, "novelty": 3}},
        ],
    )
    with caplog.at_level(logging.WARNING):
        r_old = await resolve_profile(store, old)
        r_bad = await resolve_profile(store, bad)
        r_gone = await resolve_profile(store, gone)
    assert r_old.source == SOURCE_PUBLISHED and r_old.persona == "tech_enthusiast"
    assert r_old.traits.level("tech_depth") == "high"  # the preset's traits
    assert r_bad.persona == "bargain_hunter" and r_bad.traits.level("price_sensitivity") == "high"
    assert r_gone.persona == "default" and r_gone.segment_id == "seg-09"
    logged = caplog.text
    assert "published before traits" in logged and "outside 0..1" in logged
    assert "'seg-09' is not in version" in logged


async def test_the_profiles_segment_field_is_an_override_that_beats_the_model(store, sync):
    user = await shopper(store, f"staff-{uuid.uuid4().hex[:6]}")
    published(sync, store, {user: "seg-01"}, [{"id": "seg-01", "persona": "x", "traits": DEALS}])
    assert (await resolve_profile(store, user)).source == SOURCE_PUBLISHED
    await store.put_profile(user, {"segment": "tech_enthusiast"})
    resolution = await resolve_profile(store, user)
    assert resolution.source == SOURCE_OVERRIDE and resolution.persona == "tech_enthusiast"
    await store.put_profile(user, {"favourite_category": "laptops"})
    assert (await resolve_profile(store, user)).source == SOURCE_PUBLISHED


async def test_no_model_means_unplaced_and_crm_facts_give_the_price_band(store):
    user = await shopper(store, f"crm-{uuid.uuid4().hex[:6]}")
    await store.put_profile(
        user,
        {
            "order_count": "4",
            "order_total": "3600",
            "last_order_at": f"{time.time() - 200 * 86400:.0f}",
            "last_order_category": "laptops",
            "favourite_category": "laptops",
        },
    )
    resolution = await resolve_profile(store, user)
    assert resolution.source == SOURCE_UNPLACED and not resolution.traits.placed
    facts = resolution.facts
    assert facts.price_band == "premium" and facts.long_absence(time.time())
    assert json.dumps(resolution.traits.as_dict())  # slot-safe
