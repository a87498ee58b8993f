"""Budgets and price ranges: what a shopper's words and Rasa's entities say about price.

NLU finds the amounts and the currency word (regex features, lookup tables, DIET, synonyms
to EUR/GBP/USD); the bound ("under", "between ... and", "around", "at least", "cheapest")
is read here from the words before the amount, because entity roles on numbers are far
less reliable than the few words shoppers use for them. Pure functions: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from core.products import Product, ProductCatalogue
from responses.listing import euros

# Indicative rates for shoppers who think in pounds or dollars; prices stay in euros and
# answers say "about". Other currencies get an honest answer instead of a guess.
EUR_PER = {"EUR": 1.0, "GBP": 1.17, "USD": 0.92}
SYMBOLS = {"€": "EUR", "£": "GBP", "$": "USD"}
AROUND = 0.2  # "around 100": 80..120
MAX_AMOUNT = 1_000_000_000  # above this an amount is a typo or a joke, not a budget
NEAREST = 3  # options offered when nothing fits

_NUMBER = re.compile(r"(?<![\w.])([-−]?)\s?([€£$]?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(k?)\b")
_BETWEEN = re.compile(r"\b(between|from)\b[^\d€£$-]{0,12}$")
_MAX = re.compile(
    r"\b(under|below|less than|up to|upto|max|maximum|at most|no more than|within|"
    r"cheaper than|budget(?: of| is)?|have|spend|lower than|not more than|"
    r"for|costing)\s*(?:of\s*)?$"
)
_MIN = re.compile(r"\b(over|above|more than|at least|min|minimum|starting at|upwards of)\s*$")
_NEAR = re.compile(r"\b(around|about|roughly|approximately|approx|circa|near|some)\s*$|~\s*$")
_CHEAPEST = re.compile(
    r"\b(cheapest|least expensive|lowest[- ]priced|lowest price|most affordable)\b"
)
_RANGE = re.compile(r"(?<![\w.])[€£$]?(\d+)\s?[-–]\s?[€£$]?(\d+)\b")
_NEGATIVE = re.compile(r"(?:^|\s)(?:-|−|minus\s)\s?[€£$]?\d")


@dataclass(frozen=True)
class Budget:
    """A price range in euros (either end may be open); `cheapest` orders by price."""

    low: float | None = None
    high: float | None = None
    cheapest: bool = False
    currency: str = "EUR"
    around: bool = False

    def fits(self, product: Product) -> bool:
        price = product.deal_price
        return (self.low is None or price >= self.low) and (self.high is None or price <= self.high)

    def distance(self, product: Product) -> float:
        """How far outside the range a price is (0 inside)."""
        price = product.deal_price
        below = (self.low - price) if self.low is not None and price < self.low else 0.0
        above = (price - self.high) if self.high is not None and price > self.high else 0.0
        return below + above

    def describe(self) -> str:
        """The range in euros, as answers say it: under €450, between €200 and €400."""
        low, high = (_eur(v) if v is not None else None for v in (self.low, self.high))
        if self.around and self.low is not None and self.high is not None:
            return f"around {_eur((self.low + self.high) / 2)}"
        if low and high:
            return f"between {low} and {high}"
        if high:
            return f"under {high}"
        if low:
            return f"from {low} up"
        return "any price"

    @property
    def converted(self) -> bool:
        return self.currency != "EUR"


@dataclass(frozen=True)
class BudgetProblem:
    """Why a budget cannot be used: negative, zero, absurd, unknown_currency, no_amount."""

    reason: str
    detail: str = ""


def _eur(amount: float) -> str:
    return euros(round(amount, 2))


def _currency(currencies: Sequence[str], text: str) -> tuple[str | None, str | None]:
    """(ISO code, None) for a known currency, (None, word) for an unknown one."""
    for word in currencies:
        code = SYMBOLS.get(word.strip(), word.strip().upper())
        if code in EUR_PER:
            return code, None
        if word.strip():
            return None, word.strip()[:20]
    for symbol, code in SYMBOLS.items():
        if symbol in text:
            return code, None
    return None, None


_CURRENCY_AFTER = re.compile(r"\s*(euros?|eur|quid|pounds?|gbp|dollars?|bucks|usd)\b")


def _reads_as_money(text: str, match: re.Match, accepted: list[tuple[float, int]]) -> bool:
    """A bare number in the text counts only with a symbol, a bound word before it, a
    currency word after it, or right after another amount ("between 200 and 400"); so
    the 14 of "Corvo Book 14" is not a budget."""
    before = text[max(0, match.start() - 30) : match.start()]
    return bool(
        match.group(2)
        or _BETWEEN.search(before)
        or _MAX.search(before)
        or _MIN.search(before)
        or _NEAR.search(before)
        or _CURRENCY_AFTER.match(text, match.end())
        or (accepted and match.start() - accepted[-1][1] < 16)
    )


def _amounts(text: str, amounts: Sequence[str]) -> list[tuple[float, int]]:
    """(value, position in text) for each amount: the entity values, else the numbers in
    the text that read as money."""
    found: list[tuple[float, int]] = []
    entities = [a.lower() for a in amounts if isinstance(a, str)]
    for source in entities or [text]:
        for match in _NUMBER.finditer(source[:2000]):
            if not entities and not _reads_as_money(text, match, found):
                continue
            sign, _, whole, cents, thousands = match.groups()
            value = float(whole.replace(",", "")) + (float(f"0.{cents}") if cents else 0.0)
            value *= 1000 if thousands else 1
            value = -value if sign else value
            where = text.find(match.group(0).strip()) if entities else match.start()
            found.append((value, where if where >= 0 else len(text)))
            if entities:
                break  # one number per entity
    return found


def parse_budget(
    text: str, amounts: Sequence[str] = (), currencies: Sequence[str] = ()
) -> Budget | BudgetProblem:
    """The budget a message states. `amounts` and `currencies` are the entity values NLU
    extracted (currencies already mapped to EUR/GBP/USD by the synonyms when known)."""
    lowered = text.lower()[:2000]
    cheapest = bool(_CHEAPEST.search(lowered))
    code, unknown = _currency(currencies, text)
    if unknown is not None:
        return BudgetProblem("unknown_currency", unknown)
    span = _RANGE.search(lowered)
    if span and not _NEGATIVE.search(lowered):
        low, high = sorted(float(g) for g in span.groups())
        if 0 < high <= MAX_AMOUNT:
            rate = EUR_PER[code or "EUR"]
            return Budget(low * rate, high * rate, cheapest, code or "EUR")
    values = _amounts(lowered, amounts)
    if not values:
        return Budget(cheapest=True) if cheapest else BudgetProblem("no_amount")
    if any(v < 0 for v, _ in values) or _NEGATIVE.search(lowered):
        return BudgetProblem("negative")
    if any(v > MAX_AMOUNT or math.isinf(v) for v, _ in values):
        return BudgetProblem("absurd")
    if all(v == 0 for v, _ in values):
        return BudgetProblem("zero")
    code = code or "EUR"
    rate = EUR_PER[code]
    values.sort(key=lambda pair: pair[1])
    first, where = values[0]
    before = lowered[max(0, where - 30) : where]
    if len(values) >= 2 and (_BETWEEN.search(before) or " and " in lowered or " to " in lowered):
        low, high = sorted(v for v, _ in values[:2])
        return Budget(low * rate, high * rate, cheapest, code)
    if _MIN.search(before):
        return Budget(low=first * rate, cheapest=cheapest, currency=code)
    if _NEAR.search(before):
        low, high = first * (1 - AROUND) * rate, first * (1 + AROUND) * rate
        return Budget(low, high, cheapest, code, around=True)
    return Budget(high=first * rate, cheapest=cheapest, currency=code)


def within(
    catalogue: ProductCatalogue, category: str | None, budget: Budget
) -> tuple[list[Product], list[Product]]:
    """(products that fit, the nearest ones when none does)."""
    pool = catalogue.in_category(category)
    fitting = [p for p in pool if budget.fits(p)]
    if budget.cheapest:
        fitting.sort(key=lambda p: (p.deal_price, -p.rating))
    if fitting:
        return fitting, []
    nearest = sorted(pool, key=lambda p: (budget.distance(p), -p.rating))[:NEAREST]
    return [], nearest
