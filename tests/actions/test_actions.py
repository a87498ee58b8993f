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
from core.traits import PRESETS, UNPLACED
from experiments.policy import ArmChooser
from personalization.store import ProfileStore
from tests.actions.turns import message
from tests.conftest import services, tracker_from_fixture

BASE = ArmChooser(None, None)  # no experiments, no bandit: every answer in its base wording
# The designed answer for a shopper no model has placed yet ("no segment yet").
UNPLACED_PHONES = "Here's where most people start.\nPopular smartphones:"


async def run(action, tracker, domain) -> tuple[str, list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain)
    assert 1 <= len(dispatcher.messages) <= 2, dispatcher.messages  # answer (+ follow-up)
    return dispatcher.messages[0]["text"], events


def slot_set(events, name: str) -> Any:
    found = [e["value"] for e in events if e.get("event") == "slot" and e["name"] == name]
    return found[-1] if found else None


def segment_set(events) -> Any:
    return slot_set(events, "segment")


def traits_of(persona: str) -> dict[str, Any]:
    """The traits slot a turn in this persona's preset sets."""
    return PRESETS[persona].as_dict()


async def test_segment_found_shapes_the_answer_and_sets_the_slot(store, domain):
    await store.put_profile("user_test", {"segment": "bargain_hunter"})
    action = ActionRecommendProducts(services(store, chooser=BASE))

    text, events = await run(action, tracker_from_fixture("recommend_phones"), domain)

    assert text.startswith("Best-value smartphones for you:")  # leads with deals...
    assert "% off" in text.splitlines()[1]
    # ...and says why
    assert text.splitlines()[-1].startswith(
        "Picked for shoppers who above all look for a good deal"
    )
    assert segment_set(events) == "bargain_hunter"  # an override: the preset's name
    assert slot_set(events, "traits") == traits_of("bargain_hunter")


async def test_frequent_buyer_asking_for_phones_hears_favourites_and_new_releases(store, domain):
    await store.put_profile("user_test", {"segment": "frequent_buyer"})

    text, _ = await run(
        ActionRecommendProducts(services(store, chooser=BASE)),
        tracker_from_fixture("recommend_phones"),
        domain,
    )

    assert text.startswith("Our most loved smartphones for you:")
    items = [line for line in text.splitlines() if line.startswith("•")]
    assert items and all("released " in line for line in items)
    newest = load_products().new_arrivals("smartphones")[0]
    assert newest.name in text
    assert "new arrivals" in text.splitlines()[-1]


async def test_segment_missing_means_the_no_segment_yet_answer(store, domain, caplog):
    text, events = await run(
        ActionRecommendProducts(services(store, chooser=BASE)),
        tracker_from_fixture("recommend_phones"),
        domain,
    )

    assert text.startswith(UNPLACED_PHONES)
    assert segment_set(events) == "default"
    assert slot_set(events, "traits") == UNPLACED.as_dict()


def segment_events(events: list[dict]) -> list[dict]:
    """The segment slots' events (a listing also sets shown_products, each time anew)."""
    return [e for e in events if e.get("name") != "shown_products"]


async def test_slot_is_not_reset_when_segment_unchanged(store, domain):
    await store.put_profile("user_test", {"segment": "tech_enthusiast"})
    slots = {
        "segment": "tech_enthusiast",
        "traits": traits_of("tech_enthusiast"),
        "consent": "granted",  # as recorded in Redis (the fixture user consented)
    }
    tracker = tracker_from_fixture("recommend_phones", slots=slots)

    _, events = await run(ActionRecommendProducts(services(store, chooser=BASE)), tracker, domain)

    assert segment_events(events) == []
    stale = tracker_from_fixture(
        "recommend_phones", slots={**slots, "traits": traits_of("bargain_hunter")}
    )
    _, events = await run(ActionRecommendProducts(services(store, chooser=BASE)), stale, domain)
    events = segment_events(events)
    assert [e["name"] for e in events] == ["traits"]  # only what changed
    assert events[0]["value"] == traits_of("tech_enthusiast")


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

    assert text.startswith(UNPLACED_PHONES)
    assert segment_set(events) == "default"
    assert "profile store unavailable" in caplog.text
    await store.close()


async def test_redis_down_keeps_the_traits_this_session_already_knew(private_redis, domain):
    store = ProfileStore.from_url(private_redis.url, timeout=0.2)
    private_redis.stop()
    slots = {
        "segment": "seg-04",
        "segment_version": "v7",
        "traits": traits_of("casual_browser"),
        "consent": "granted",
    }
    action = ActionRecommendProducts(services(store, chooser=BASE))

    text, events = await run(action, tracker_from_fixture("recommend_phones", slots=slots), domain)
    # Without the traits slot (only a segment name) there is nothing to keep.
    bare, _ = await run(
        action,
        tracker_from_fixture("recommend_phones", slots={**slots, "traits": None}),
        domain,
    )

    assert text.startswith("Easy-going smartphones for you:")
    assert text.count("•") == 2  # the casual browser's shorter list
    assert segment_events(events) == []  # the slots still say which segment and version did
    assert bare.startswith(UNPLACED_PHONES)
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
    assert text.startswith(UNPLACED_PHONES)
    assert elapsed < 2.0  # generous bound: the point is it does not hang
    assert "profile store unavailable" in caplog.text
    await store.close()


@pytest.mark.parametrize(
    "raw, reason",
    [
        ({"segment": "space_cowboy"}, "not a known persona"),
        ({"segment": "bargain_hunter", "favourite_category": "toasters"}, "favourite_category"),
        ({"segment": b"\xff\xfe"}, "not valid UTF-8"),
        ({"segment": "bargain_hunter", "updated_at": "yesterday"}, "updated_at"),
        ({"segment": "bargain_hunter", "order_total": "lots"}, "order_total"),
        ({"last_order_category": "cars"}, "last_order_category"),
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

    assert text.startswith(UNPLACED_PHONES)
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

    assert text.startswith(UNPLACED_PHONES)
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


def no_category_tracker():
    return tracker_from_fixture(
        "recommend_phones",
        slots={"product_category": None},
        latest_message={
            "text": "what do you recommend?",
            "intent": {"name": "ask_recommendation"},
            "entities": [],
        },
    )


async def test_recommendation_without_any_category_asks_an_unplaced_shopper(store, domain):
    text, _ = await run(
        ActionRecommendProducts(services(store, chooser=BASE)), no_category_tracker(), domain
    )

    assert text.startswith("Happy to help you find something! What are you shopping for:")
    assert "laptops" in text


async def test_a_placed_shopper_without_history_gets_the_segments_picks_not_a_question(
    store, domain
):
    await store.put_profile("user_test", {"segment": "tech_enthusiast"})

    text, _ = await run(
        ActionRecommendProducts(services(store, chooser=BASE)), no_category_tracker(), domain
    )

    assert text.startswith("The most capable products for you:") and "•" in text


@pytest.mark.parametrize(
    "days_ago, category, why",
    [
        (3, "headphones", "to go with your laptop"),  # a recent laptop: what goes with it
        (90, "laptops", None),  # long ago: their last order's category
    ],
)
async def test_recommendation_without_a_category_answers_from_the_order_history(
    store, domain, days_ago, category, why
):
    import time

    await store.put_profile(
        "user_test",
        {
            "segment": "bargain_hunter",
            "last_order_category": "laptops",
            "last_order_at": f"{time.time() - days_ago * 86400:.0f}",
            "order_count": "1",
            "order_total": "849",
        },
    )

    text, _ = await run(
        ActionRecommendProducts(services(store, chooser=BASE)), no_category_tracker(), domain
    )

    assert text.startswith(f"Best-value {category} for you:")
    assert "in your usual premium price range" in text
    assert (why in text) if why else ("to go with" not in text)


async def test_deals_and_new_arrivals_follow_the_persona(store, domain):
    await store.put_profile("user_test", {"segment": "bargain_hunter"})
    tracker = tracker_from_fixture("recommend_phones")

    deals, _ = await run(ActionShowDeals(services(store, chooser=BASE)), tracker, domain)
    new, _ = await run(ActionShowNewArrivals(services(store, chooser=BASE)), tracker, domain)

    products = load_products()
    why = "Picked for shoppers who above all look for a good deal"
    deal_lines = [line for line in deals.splitlines() if line.startswith("•")]
    assert deals.startswith("Deals on smartphones for you:") and why in deals
    assert deal_lines and all(", save €" in line for line in deal_lines)
    assert new.startswith("New arrivals in smartphones for you:") and why in new
    shown = [products.find(line[2:].split(":")[0]) for line in new.splitlines()[1:-1]]
    assert shown and [p.deal_price for p in shown] == sorted(p.deal_price for p in shown)
    assert {p.name for p in shown} <= {p.name for p in products.new_arrivals("smartphones")}


@pytest.mark.parametrize(
    "segment, first_line, says",
    [
        ("tech_enthusiast", "Nova X12 (smartphones), full specs:", "• chip: Octa-core 3.2 GHz"),
        ("casual_browser", "Nova X12: ", "Moves your photos, contacts and apps over"),
        ("bargain_hunter", "Nova X12: ", "€899, no discount right now"),
    ],
)
async def test_specs_lead_with_what_the_traits_care_about(store, domain, segment, first_line, says):
    await store.put_profile("user_test", {"segment": segment})

    text, _ = await run(
        ActionShowSpecs(services(store, chooser=BASE)), tracker_from_fixture("ask_specs"), domain
    )

    assert text.startswith(first_line) and says in text
    assert ("chip:" in text) == (segment == "tech_enthusiast")  # specs for the enthusiast only


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

    assert [e["event"] for e in events] == ["session_started"] + ["slot"] * 5 + ["action"]
    assert segment_set(events) == "new_visitor"
    assert slot_set(events, "traits") == traits_of("new_visitor")
    assert slot_set(events, "segment_version") is None  # an override: no model version
    assert slot_set(events, "consent") == "granted"  # as recorded: the store-down fallback
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
    unplaced_morning, _ = await run(greet, tracker, domain)

    # A regular (loyalty leads) is greeted as one, in their morning.
    assert plain == "Good morning! I'm the Voltmart shop assistant. Good to see you again."
    assert after_purchase.startswith("Welcome back, and thanks for your recent order!")
    assert unplaced_morning.startswith("Good morning and welcome to Voltmart!")
    assert segment_set(events) == "frequent_buyer"


@pytest.mark.parametrize(
    "segment, offer",
    [
        ("frequent_buyer", "Shall I show you today's deals in this category too?"),
        ("bargain_hunter", "Want the full list of discounts in this category?"),
        ("tech_enthusiast", "Want the current deals as well, with their key specs?"),
        ("default", "Would you like to see the current deals as well?"),
    ],
)
async def test_a_recommendation_ends_with_the_traits_deals_offer(store, domain, segment, offer):
    await store.put_profile("user_test", {"segment": segment})
    dispatcher = CollectingDispatcher()

    await ActionRecommendProducts(services(store, chooser=BASE)).run(
        dispatcher, tracker_from_fixture("recommend_phones"), domain
    )

    assert [m["text"] for m in dispatcher.messages][1:] == [offer]


async def test_session_start_carries_the_experiment_exposures(store, domain):
    tracker = tracker_from_fixture(
        "recommend_phones", slots={"experiments": {"reco-intro": "savings"}}
    )

    events = await ActionSessionStart(services(store)).run(CollectingDispatcher(), tracker, domain)

    carried = [e for e in events if e.get("name") == "experiments"]
    assert [e["value"] for e in carried] == [{"reco-intro": "savings"}]  # sticky, no Redis read


@pytest.mark.parametrize(
    "action_class", [ActionRecommendProducts, ActionShowDeals, ActionShowNewArrivals]
)
async def test_a_thing_the_shop_does_not_sell_is_said_not_replaced(store, domain, action_class):
    """Asked for "a good book": no laptops instead (one of issue 14's wrong answers)."""
    await store.put_profile(
        "user_test", {"segment": "bargain_hunter", "favourite_category": "laptops"}
    )
    action = action_class(services(store, chooser=BASE))
    text, events = await run(
        action,
        message("recommend a good book", "ask_recommendation", [("product", "book")]),
        domain,
    )
    assert text.startswith('I couldn\'t find "book" in our catalogue.')
    assert slot_set(events, "shown_products") is None
    # A product the shop has, or a category named beside the unknown word, still answers.
    named, _ = await run(
        action,
        message("anything like the nova x12", "ask_recommendation", [("product", "nova x12")]),
        domain,
    )
    assert not named.startswith("I couldn't find")
    beside, _ = await run(
        action,
        message(
            "laptops for reading a book",
            "ask_recommendation",
            [("product", "book"), ("product_category", "laptops")],
        ),
        domain,
    )
    assert "laptops" in beside.lower() and not beside.startswith("I couldn't find")
