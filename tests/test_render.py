"""The same question gets a visibly different, useful answer per persona."""

from __future__ import annotations

import pytest

from actions.catalogue import default_catalogue
from actions.personas import PERSONAS
from actions.render import (
    DEALS,
    NEW_ARRIVALS,
    RECOMMEND,
    euros,
    render_listing,
    render_specs,
)

CAT = default_catalogue()


LISTINGS = [
    (intent, category)
    for intent in (RECOMMEND, DEALS, NEW_ARRIVALS)
    for category in (None, "smartphones", "smart_home")
    if not (intent == RECOMMEND and category is None)  # recommendations always have a category
]


@pytest.mark.parametrize("intent, category", LISTINGS)
def test_every_persona_answers_differently(intent, category):
    answers = {p: render_listing(intent, p, CAT, category) for p in PERSONAS}
    assert len(set(answers.values())) == len(PERSONAS), answers
    assert all(a.strip() for a in answers.values())


def test_bargain_hunter_sees_the_cheapest_deal_first():
    text = render_listing(RECOMMEND, "bargain_hunter", CAT, "headphones")
    first = text.splitlines()[1]
    cheapest_deal = min(
        (p for p in CAT.in_category("headphones") if p.on_deal), key=lambda p: p.deal_price
    )
    assert first.startswith(f"• {cheapest_deal.name}: {euros(cheapest_deal.deal_price)}, save")


def test_enthusiast_gets_specs_before_price():
    line = render_listing(RECOMMEND, "tech_enthusiast", CAT, "laptops").splitlines()[1]
    product = CAT.find(line[2:].split(":")[0])
    first_spec = next(iter(product.specs))
    assert line.index(first_spec) < line.index("€")


def test_casual_browser_gets_ease_of_use_first():
    line = render_listing(RECOMMEND, "casual_browser", CAT, "tablets").splitlines()[1]
    product = CAT.find(line[2:].split(":")[0])
    assert line.startswith(f"• {product.name}: {product.ease_of_use.rstrip('.')}")
    assert product.ease_score == max(p.ease_score for p in CAT.in_category("tablets"))


def test_frequent_buyer_hears_new_arrivals_then_deals():
    text = render_listing(RECOMMEND, "frequent_buyer", CAT, "smartphones")
    assert text.index("New in smartphones") < text.index("Today's deals on smartphones")
    for product in CAT.new_arrivals("smartphones")[:2]:
        assert product.name in text


def test_new_visitor_gets_a_gentle_introduction():
    text = render_listing(RECOMMEND, "new_visitor", CAT, "laptops")
    assert text.startswith("Welcome!")
    assert text.count("•") == 2  # not overwhelmed
    assert "whenever you like" in text


def test_unknown_persona_renders_as_default():
    assert render_listing(DEALS, "mystery", CAT, None) == render_listing(
        DEALS, "default", CAT, None
    )


def test_new_arrivals_are_the_newest_releases():
    newest = max(p.release_date for p in CAT.products)
    for p in CAT.new_arrivals():
        assert (newest - p.release_date).days <= 120


def test_specs_for_the_enthusiast_list_every_spec():
    product = CAT.find("nova x12")
    text = render_specs("tech_enthusiast", product)
    assert all(f"{k}: {v}" in text for k, v in product.specs.items())


def test_empty_deals_section_says_so():
    from actions.catalogue import Catalogue

    no_deals = Catalogue(p for p in CAT.products if not p.on_deal)
    assert (
        render_listing(DEALS, "bargain_hunter", no_deals, "laptops")
        == "There are no discounts on laptops today."
    )
