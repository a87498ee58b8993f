"""Budgets, comparisons and stock through the real actions, real rasa-sdk objects and a
real Redis (the profile store)."""

from __future__ import annotations

from actions.shopping import ActionCheckStock, ActionCompareProducts, ActionFindInBudget
from core.products import load_products
from experiments.policy import ArmChooser
from tests.actions.turns import answer, message, slot
from tests.conftest import FIXTURE_USER, services

BASE = ArmChooser(None, None)
CATALOGUE = load_products()


def listed(text: str) -> list[str]:
    return [line[2:].split(":")[0] for line in text.splitlines() if line.startswith("• ")]


async def test_budget_filters_ranks_for_the_segment_and_sends_cards(store, domain):
    await store.put_profile(FIXTURE_USER, {"segment": "bargain_hunter"})
    action = ActionFindInBudget(services(store, chooser=BASE))
    tracker = message(
        "laptops under 900 euros",
        "ask_budget",
        [("product_category", "laptops"), ("amount", "900"), ("currency", "EUR")],
    )
    messages, events = await answer(action, tracker, domain)
    text = messages[0]["text"]
    assert text.splitlines()[0] == "Best-value laptops under €900 for you:"
    names = listed(text)
    assert names and all(CATALOGUE.find(n).deal_price <= 900 for n in names)
    assert all(CATALOGUE.find(n).category == "laptops" for n in names)
    cards = messages[0]["custom"]
    assert cards["type"] == "products" and [c["name"] for c in cards["products"]] == names
    assert slot(events, "shown_products") == [CATALOGUE.find(n).id for n in names]


async def test_budget_order_differs_by_segment(store, domain):
    orders = {}
    for persona in ("bargain_hunter", "tech_enthusiast"):
        await store.put_profile(FIXTURE_USER, {"segment": persona})
        action = ActionFindInBudget(services(store, chooser=BASE))
        tracker = message(
            "laptops below 2500",
            "ask_budget",
            [("product_category", "laptops"), ("amount", "2500")],
        )
        messages, _ = await answer(action, tracker, domain)
        orders[persona] = listed(messages[0]["text"])
    assert orders["bargain_hunter"][0] != orders["tech_enthusiast"][0]
    assert orders["tech_enthusiast"][0] == "Titanforge X17"  # the most capable first


async def test_nothing_in_budget_is_said_honestly_with_the_nearest(store, domain):
    action = ActionFindInBudget(services(store, chooser=BASE))
    tracker = message(
        "laptops under 100", "ask_budget", [("product_category", "laptops"), ("amount", "100")]
    )
    messages, _ = await answer(action, tracker, domain)
    text = messages[0]["text"]
    assert "Nothing in laptops under €100, sorry." in text
    assert "Brisa Lite" in text  # the nearest, cheapest laptop


async def test_bad_budgets_get_a_clear_answer(store, domain):
    action = ActionFindInBudget(services(store, chooser=BASE))
    cases = {
        ("budget of -50", ("amount", "-50")): "I can't search with a budget of -50",
        ("50 yen phones", ("currency", "yen")): "I can't work in yen",
        ("something cheap", None): "What's your budget",
    }
    for (text, entity), expected in cases.items():
        entities = [entity] if entity else []
        if entity and entity[0] == "currency":
            entities.append(("amount", "50"))
        messages, _ = await answer(action, message(text, "ask_budget", entities), domain)
        assert expected in messages[0]["text"], messages


async def test_pounds_are_converted_and_said(store, domain):
    action = ActionFindInBudget(services(store, chooser=BASE))
    tracker = message(
        "buds for about 60 quid",
        "ask_budget",
        [("product_category", "headphones"), ("amount", "60"), ("currency", "GBP")],
    )
    messages, _ = await answer(action, tracker, domain)
    text = messages[0]["text"]
    assert text.startswith("Prices are in euros: I converted your budget")
    assert "around €70" in text


async def test_compare_orders_rows_by_segment_and_sends_a_table(store, domain):
    firsts = {}
    for persona in ("bargain_hunter", "tech_enthusiast"):
        await store.put_profile(FIXTURE_USER, {"segment": persona})
        action = ActionCompareProducts(services(store, chooser=BASE))
        tracker = message("compare the nova x21 and kestral s3", "compare_products")
        messages, _ = await answer(action, tracker, domain)
        text = messages[0]["text"]
        assert text.startswith("Nova X12 vs Kestrel S3")  # typos matched
        firsts[persona] = text.splitlines()[1]
        table = messages[0]["custom"]
        assert table["type"] == "comparison" and table["products"] == ["Nova X12", "Kestrel S3"]
    assert firsts["bargain_hunter"].startswith("• Price:")
    assert firsts["tech_enthusiast"].startswith("• Display:")


async def test_compare_one_product_uses_the_last_listing_or_asks(store, domain):
    action = ActionCompareProducts(services(store, chooser=BASE))
    shown = [CATALOGUE.find("Folia 11").id, CATALOGUE.find("Inkwell 10").id]
    tracker = message(
        "compare the Folia 11",
        "compare_products",
        [("product", "Folia 11")],
        slots={"shown_products": shown},
    )
    messages, _ = await answer(action, tracker, domain)
    assert messages[0]["text"].startswith("Folia 11 vs Inkwell 10")
    alone = message("compare the Folia 11", "compare_products", [("product", "Folia 11")])
    messages, _ = await answer(action, alone, domain)
    assert messages[0]["text"].startswith("Which products should I compare Folia 11 with?")
    unknown = message("compare the zorblax 9000", "compare_products", [("product", "zorblax 9000")])
    messages, _ = await answer(action, unknown, domain)
    assert 'couldn\'t find "zorblax 9000"' in messages[0]["text"]
    # Nothing named that NLU or the catalogue knows, nothing shown before: ask which.
    nothing = message("can you compare the roman and greek empires", "compare_products")
    messages, _ = await answer(action, nothing, domain)
    assert messages[0]["text"].startswith("Which products should I compare? Name two or more")


async def test_compare_twenty_products_shows_four_and_says_so(store, domain):
    action = ActionCompareProducts(services(store, chooser=BASE))
    names = [p.name for p in CATALOGUE.products[:20]]
    tracker = message(
        "compare " + ", ".join(names), "compare_products", [("product", n) for n in names]
    )
    messages, _ = await answer(action, tracker, domain)
    assert "(the first 4 of the 20 you named)" in messages[0]["text"].splitlines()[0]
    assert len(messages[0]["custom"]["products"]) == 4


async def test_stock_states_and_out_of_stock_alternatives(store, domain):
    action = ActionCheckStock(services(store, chooser=BASE))
    messages, events = await answer(
        action, message("is the Nova X12 in stock?", "ask_stock", [("product", "Nova X12")]), domain
    )
    assert messages[0]["text"] == "Yes, the Nova X12 is in stock and ships today."
    assert slot(events, "product") == "Nova X12"
    messages, _ = await answer(action, message("kestrel s3 available?", "ask_stock"), domain)
    assert messages[0]["text"] == "The Kestrel S3 is in stock, but only 2 left."
    messages, _ = await answer(action, message("is the veyra fold sold out", "ask_stock"), domain)
    text = messages[0]["text"]
    assert text.startswith("The Veyra Fold is out of stock right now.")
    alternatives = listed(text)
    assert alternatives and all(CATALOGUE.find(n).stock > 0 for n in alternatives)
    assert messages[0]["buttons"][0]["payload"] == '/notify_when_back{"product":"Veyra Fold"}'
    # "is it in stock?" is about the product the conversation was about
    messages, _ = await answer(
        action, message("is it in stock?", "ask_stock", slots={"product": "Kestrel S3"}), domain
    )
    assert "Kestrel S3" in messages[0]["text"]


async def test_web_channel_gets_cards_instead_of_bullet_lines(store, domain):
    action = ActionFindInBudget(services(store, chooser=BASE))
    tracker = message(
        "tablets under 400",
        "ask_budget",
        [("product_category", "tablets"), ("amount", "400")],
        channel="web",
    )
    messages, _ = await answer(action, tracker, domain)
    assert not listed(messages[0]["text"])
    assert messages[0]["custom"]["products"]
