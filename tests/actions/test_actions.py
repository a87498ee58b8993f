"""Each action with real rasa-sdk objects, the real domain and a real Redis."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.recommendations import (
    ActionRecommendProducts,
    ActionShowDeals,
    ActionShowNewArrivals,
    ActionShowSpecs,
)
from actions.session import ActionSessionStart
from core.products import load_products
from experiments.policy import ArmChooser
from personalization.store import ProfileStore
from tests.conftest import services, tracker_from_fixture

BASE = ArmChooser(None, None)  # no experiments, no bandit: every answer in its base wording


async def run(action, tracker, domain) -> tuple[str, list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain)
    assert 1 <= len(dispatcher.messages) <= 2, dispatcher.messages  # answer (+ follow-up)
    return dispatcher.messages[0]["text"], events


def segment_set(events) -> Any:
    found = [e["value"] for e in events if e.get("event") == "slot" and e["name"] == "segment"]
    return found[-1] if found else None


async def test_segment_found_shapes_the_answer_and_sets_the_slot(store, domain):
    await store.put_profile("user_test", {"segment": "bargain_hunter"})
    action = ActionRecommendProducts(services(store, chooser=BASE))

    text, events = await run(action, tracker_from_fixture("recommend_phones"), domain)

    assert text.startswith("Best value smartphones, deals first:")
    assert "% off" in text.splitlines()[1]
    assert segment_set(events) == "bargain_hunter"


async def test_frequent_buyer_asking_for_phones_hears_new_arrivals_and_deals(store, domain):
    await store.put_profile("user_test", {"segment": "frequent_buyer"})

    text, _ = await run(
        ActionRecommendProducts(services(store, chooser=BASE)),
        tracker_from_fixture("recommend_phones"),
        domain,
    )

    assert "New in smartphones" in text
    assert "deals on smartphones" in text
    newest = load_products().new_arrivals("smartphones")[0]
    assert newest.name in text


async def test_segment_missing_means_default_persona(store, domain, caplog):
    text, events = await run(
        ActionRecommendProducts(services(store, chooser=BASE)),
        tracker_from_fixture("recommend_phones"),
        domain,
    )

    assert text.startswith("Popular smartphones:")
    assert segment_set(events) == "default"


async def test_slot_is_not_reset_when_segment_unchanged(store, domain):
    await store.put_profile("user_test", {"segment": "tech_enthusiast"})
    tracker = tracker_from_fixture("recommend_phones", slots={"segment": "tech_enthusiast"})

    _, events = await run(ActionRecommendProducts(services(store, chooser=BASE)), tracker, domain)

    assert events == []


async def test_redis_stopped_falls_back_to_default_with_a_warning(private_redis, domain, caplog):
    store = ProfileStore.from_url(private_redis.url, timeout=0.2)
    await store.put_profile("user_test", {"segment": "tech_enthusiast"})
    private_redis.stop()

    with caplog.at_level(logging.WARNING):
        text, events = await run(
            ActionRecommendProducts(services(store, chooser=BASE)),
            tracker_from_fixture("recommend_phones"),
            domain,
        )

    assert text.startswith("Popular smartphones:")
    assert segment_set(events) == "default"
    assert "profile store unavailable" in caplog.text
    await store.close()


async def test_redis_down_keeps_the_segment_this_session_already_knew(private_redis, domain):
    store = ProfileStore.from_url(private_redis.url, timeout=0.2)
    private_redis.stop()
    tracker = tracker_from_fixture(
        "recommend_phones", slots={"segment": "casual_browser", "consent": "granted"}
    )

    text, events = await run(
        ActionRecommendProducts(services(store, chooser=BASE)), tracker, domain
    )

    assert text.startswith("Easy-going smartphones")
    assert events == []
    await store.close()


async def test_hung_redis_answers_within_the_deadline(private_redis, domain, caplog):
    store = ProfileStore.from_url(private_redis.url, timeout=0.15)
    await store.put_profile("user_test", {"segment": "tech_enthusiast"})
    private_redis.pause()
    import time

    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        text, _ = await run(
            ActionRecommendProducts(services(store, chooser=BASE)),
            tracker_from_fixture("recommend_phones"),
            domain,
        )
    elapsed = time.monotonic() - started

    private_redis.resume()
    assert text.startswith("Popular smartphones:")
    assert elapsed < 2.0  # generous bound: the point is it does not hang
    assert "profile store unavailable" in caplog.text
    await store.close()


@pytest.mark.parametrize(
    "raw, reason",
    [
        ({"segment": "space_cowboy"}, "not a known persona"),
        ({"favourite_category": "laptops"}, "'segment' is missing"),
        ({"segment": "bargain_hunter", "favourite_category": "toasters"}, "favourite_category"),
        ({"segment": b"\xff\xfe"}, "not valid UTF-8"),
        ({"segment": "bargain_hunter", "updated_at": "yesterday"}, "updated_at"),
    ],
)
async def test_malformed_profile_falls_back_with_a_warning(store, domain, caplog, raw, reason):
    await store._client.hset(store.key("user_test"), mapping=raw)

    with caplog.at_level(logging.WARNING):
        text, events = await run(
            ActionRecommendProducts(services(store, chooser=BASE)),
            tracker_from_fixture("recommend_phones"),
            domain,
        )

    assert text.startswith("Popular smartphones:")
    assert segment_set(events) == "default"
    assert "malformed profile" in caplog.text and reason in caplog.text


async def test_profile_of_the_wrong_redis_type_falls_back(store, domain, caplog):
    await store._client.set(store.key("user_test"), "bargain_hunter")

    with caplog.at_level(logging.WARNING):
        text, _ = await run(
            ActionRecommendProducts(services(store, chooser=BASE)),
            tracker_from_fixture("recommend_phones"),
            domain,
        )

    assert text.startswith("Popular smartphones:")
    assert "WRONGTYPE" in caplog.text


async def test_recommendation_without_category_uses_the_favourite(store, domain):
    await store.put_profile(
        "user_test", {"segment": "casual_browser", "favourite_category": "smart_home"}
    )
    tracker = tracker_from_fixture(
        "recommend_phones",
        slots={"product_category": None},
        latest_message={
            "text": "what do you recommend?",
            "intent": {"name": "ask_recommendation"},
            "entities": [],
        },
    )

    text, _ = await run(ActionRecommendProducts(services(store, chooser=BASE)), tracker, domain)

    assert text.startswith("Easy-going smart-home devices")


async def test_recommendation_without_any_category_asks_for_one(store, domain):
    tracker = tracker_from_fixture(
        "recommend_phones",
        slots={"product_category": None},
        latest_message={
            "text": "what do you recommend?",
            "intent": {"name": "ask_recommendation"},
            "entities": [],
        },
    )

    text, _ = await run(ActionRecommendProducts(services(store, chooser=BASE)), tracker, domain)

    assert text.startswith("What are you looking for:") and "laptops" in text


async def test_deals_and_new_arrivals_follow_the_persona(store, domain):
    await store.put_profile("user_test", {"segment": "bargain_hunter"})
    tracker = tracker_from_fixture("recommend_phones")

    deals, _ = await run(ActionShowDeals(services(store, chooser=BASE)), tracker, domain)
    new, _ = await run(ActionShowNewArrivals(services(store, chooser=BASE)), tracker, domain)

    assert deals.startswith("Biggest savings on smartphones")
    assert new.startswith("New smartphones, lowest price first:")


@pytest.mark.parametrize(
    "segment, first_line",
    [
        ("tech_enthusiast", "Nova X12 (smartphones), full specs:"),
        ("casual_browser", "Nova X12: Moves your photos"),
        ("bargain_hunter", "Nova X12: €899"),
    ],
)
async def test_specs_lead_with_what_the_persona_cares_about(store, domain, segment, first_line):
    await store.put_profile("user_test", {"segment": segment})

    text, _ = await run(
        ActionShowSpecs(services(store, chooser=BASE)), tracker_from_fixture("ask_specs"), domain
    )

    assert text.startswith(first_line)


async def test_specs_of_an_unknown_product_suggests_real_ones(store, domain):
    tracker = tracker_from_fixture(
        "ask_specs",
        slots={"product": None},
        latest_message={
            "text": "specs of the zork 9000",
            "intent": {"name": "ask_specs"},
            "entities": [{"entity": "product", "value": "zork 9000"}],
        },
    )

    text, _ = await run(ActionShowSpecs(services(store, chooser=BASE)), tracker, domain)

    assert text.startswith('I couldn\'t find "zork 9000"')


async def test_session_start_loads_the_segment_and_carries_the_category(store, domain):
    await store.put_profile("user_test", {"segment": "new_visitor"})
    dispatcher = CollectingDispatcher()

    events = await ActionSessionStart(services(store)).run(
        dispatcher, tracker_from_fixture("recommend_phones"), domain
    )

    assert [e["event"] for e in events] == ["session_started", "slot", "slot", "action"]
    assert segment_set(events) == "new_visitor"
    assert {"event": "slot", "name": "product_category", "value": "smartphones"}.items() <= events[
        1
    ].items()
    assert events[-1]["name"] == "action_listen"
    assert dispatcher.messages == []


async def test_session_start_survives_redis_down(private_redis, domain):
    store = ProfileStore.from_url(private_redis.url, timeout=0.2)
    private_redis.stop()

    events = await ActionSessionStart(services(store)).run(
        CollectingDispatcher(), tracker_from_fixture("recommend_phones"), domain
    )

    assert segment_set(events) == "default"
    await store.close()


def test_every_domain_action_is_served_by_the_action_package(domain):
    from rasa_sdk.executor import ActionExecutor

    executor = ActionExecutor()
    executor.register_package("actions")

    custom = [a for a in domain["actions"] if a.startswith("action_")]
    assert set(custom) <= set(executor.actions)
    assert "action_noop" in executor.actions


@pytest.mark.parametrize(
    "metadata, items",
    [
        ({"device": "mobile", "timezone": "Europe/Berlin", "region": "DE"}, 2),
        ({"device": "desktop"}, 3),
        ({}, 3),
        ("not a dict", 3),
    ],
)
async def test_phones_get_shorter_lists_from_the_gateways_device_cue(
    store, domain, metadata, items
):
    from actions.turns import message_metadata

    await store.put_profile("user_test", {"segment": "bargain_hunter"})
    base = tracker_from_fixture("recommend_phones").latest_message
    tracker = tracker_from_fixture(
        "recommend_phones", latest_message={**base, "metadata": metadata}
    )

    text, _ = await run(ActionRecommendProducts(services(store, chooser=BASE)), tracker, domain)

    assert text.count("•") == items
    if isinstance(metadata, dict) and metadata.get("region"):
        assert message_metadata(tracker).region == "DE"


async def test_greeting_follows_persona_time_of_day_and_recent_purchase(store, domain):
    from actions.recommendations import ActionGreet

    await store.put_profile("user_test", {"segment": "frequent_buyer"})
    morning_in_berlin = 1_780_000_000 - (1_780_000_000 % 86400) + 7 * 3600
    base = tracker_from_fixture("recommend_phones").latest_message
    tracker = tracker_from_fixture(
        "recommend_phones",
        latest_message={**base, "metadata": {"timezone": "Europe/Berlin"}, "entities": []},
    )
    greet = ActionGreet(services(store, clock=lambda: morning_in_berlin))

    plain, events = await run(greet, tracker, domain)
    await store.client.hset(store.keys.live("user_test"), "last_purchase", morning_in_berlin - 3600)
    after_purchase, _ = await run(greet, tracker, domain)
    await store.put_profile("user_test", {"segment": "default"})
    default_morning, _ = await run(greet, tracker, domain)

    assert plain.startswith("Welcome back! There's new stock")
    assert after_purchase.startswith("Welcome back, and thanks for your recent order!")
    assert default_morning.startswith("Good morning! I'm the Voltmart shop assistant.")
    assert segment_set(events) == "frequent_buyer"


async def test_a_recommendation_ends_with_the_personas_deals_offer(store, domain):
    await store.put_profile("user_test", {"segment": "frequent_buyer"})
    dispatcher = CollectingDispatcher()

    await ActionRecommendProducts(services(store, chooser=BASE)).run(
        dispatcher, tracker_from_fixture("recommend_phones"), domain
    )

    assert [m["text"] for m in dispatcher.messages][1:] == [
        "Shall I show you every deal in this category, newest models first?"
    ]


async def test_session_start_carries_the_experiment_exposures(store, domain):
    tracker = tracker_from_fixture(
        "recommend_phones", slots={"experiments": {"reco-intro": "savings"}}
    )

    events = await ActionSessionStart(services(store)).run(CollectingDispatcher(), tracker, domain)

    carried = [e for e in events if e.get("name") == "experiments"]
    assert [e["value"] for e in carried] == [{"reco-intro": "savings"}]  # sticky, no Redis read
