"""Budgets from shoppers' words: bounds, currencies, bad input."""

from __future__ import annotations

import pytest

from core.products import load_products
from shop.budgets import EUR_PER, Budget, BudgetProblem, parse_budget, within

CATALOGUE = load_products()


@pytest.mark.parametrize(
    "text, amounts, currencies, low, high",
    [
        ("below 450", ["450"], [], None, 450),
        ("between 200 and 400 euros", ["200", "400"], ["EUR"], 200, 400),
        ("between 400 and 200", [], [], 200, 400),  # no entities: read from the text
        ("tablets from 200 to 400", ["200", "400"], [], 200, 400),
        ("phones €300-€500", [], [], 300, 500),
        ("under €300", ["€300"], [], None, 300),
        ("max 1,200", ["1,200"], [], None, 1200),
        ("show me a lappy under 1k", ["1k"], [], None, 1000),
        ("laptops over 1500 eur", ["1500"], ["EUR"], 1500, None),
        ("at least 800", [], [], 800, None),
        ("i have 99.99", ["99.99"], [], None, 99.99),
    ],
)
def test_bounds(text, amounts, currencies, low, high):
    budget = parse_budget(text, amounts, currencies)
    assert isinstance(budget, Budget)
    assert (budget.low, budget.high) == (low, high)
    assert budget.currency == "EUR"


def test_around_in_pounds_converts_at_the_indicative_rate():
    budget = parse_budget("something around 100 quid", ["100"], ["GBP"])
    assert isinstance(budget, Budget) and budget.around and budget.converted
    assert budget.low == pytest.approx(80 * EUR_PER["GBP"])
    assert budget.high == pytest.approx(120 * EUR_PER["GBP"])
    assert budget.describe() == f"around €{100 * EUR_PER['GBP']:,.0f}"


def test_cheapest_without_an_amount_and_numbers_in_product_names_are_not_budgets():
    assert parse_budget("what's the cheapest tablet") == Budget(cheapest=True)
    assert parse_budget("cheapest Corvo Book 14") == Budget(cheapest=True)
    assert parse_budget("is the Corvo Book 14 good") == BudgetProblem("no_amount")


@pytest.mark.parametrize(
    "text, amounts, currencies, reason",
    [
        ("budget of -50", ["-50"], [], "negative"),
        ("minus 20 euros", [], [], "negative"),
        ("under 0 euros", ["0"], ["EUR"], "zero"),
        ("up to 99999999999999", [], [], "absurd"),
        ("50 yen", ["50"], ["yen"], "unknown_currency"),
        ("a laptop for 300 bitcoin", ["300"], ["bitcoin"], "unknown_currency"),
        ("recommend a phone", [], [], "no_amount"),
    ],
)
def test_unusable_budgets_are_named(text, amounts, currencies, reason):
    problem = parse_budget(text, amounts, currencies)
    assert isinstance(problem, BudgetProblem) and problem.reason == reason


def test_within_filters_on_the_price_after_discount():
    budget = Budget(high=200)
    fitting, nearest = within(CATALOGUE, "smartphones", budget)
    assert nearest == []
    assert {p.name for p in fitting} == {"Nova Lite 5", "EasyTalk One"}  # 169.15 and 149
    assert all(p.deal_price <= 200 for p in fitting)


def test_nothing_fits_gives_the_nearest_options():
    fitting, nearest = within(CATALOGUE, "laptops", Budget(high=100))
    assert fitting == []
    assert len(nearest) == 3
    assert nearest[0].name == "Brisa Lite"  # the cheapest laptop, €321.75 after 25% off
    assert [p.deal_price for p in nearest] == sorted(p.deal_price for p in nearest)


def test_cheapest_orders_by_price():
    fitting, _ = within(CATALOGUE, "tablets", Budget(cheapest=True))
    prices = [p.deal_price for p in fitting]
    assert prices == sorted(prices) and len(prices) == len(CATALOGUE.in_category("tablets"))
