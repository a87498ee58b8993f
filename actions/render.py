"""Persona-specific answers as plain functions of (persona, catalogue, request).

Each persona has a playbook per intent: which products to lead with and which
facts to put first (specs for enthusiasts, price for bargain hunters, ease of
use for casual browsers, what is new for frequent buyers, a gentle start for
new visitors).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from actions.catalogue import Catalogue, Product
from actions.personas import (
    BARGAIN_HUNTER,
    CASUAL_BROWSER,
    DEFAULT,
    FREQUENT_BUYER,
    NEW_VISITOR,
    TECH_ENTHUSIAST,
)
from actions.profiles import CATEGORIES

RECOMMEND, DEALS, NEW_ARRIVALS = "recommend", "deals", "new_arrivals"

CATEGORY_LABELS = {
    "smartphones": "smartphones",
    "laptops": "laptops",
    "headphones": "headphones",
    "smart_home": "smart-home devices",
    "tablets": "tablets",
    "smartwatches": "smartwatches",
}


def category_label(category: str | None) -> str:
    return CATEGORY_LABELS.get(category or "", "products")


def euros(amount: float) -> str:
    return f"€{amount:,.0f}" if amount == int(amount) else f"€{amount:,.2f}"


# --- facts about one product, in the words each persona cares about -------------


def _price(p: Product) -> str:
    if p.on_deal:
        return f"{euros(p.deal_price)} ({p.discount_pct}% off {euros(p.price)})"
    return euros(p.price)


def _deal(p: Product) -> str:
    if not p.on_deal:
        return f"{euros(p.price)}, no discount right now"
    return f"{euros(p.deal_price)}, save {euros(p.price - p.deal_price)} ({p.discount_pct}% off)"


def _specs(p: Product, limit: int = 4) -> str:
    return ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in list(p.specs.items())[:limit])


FACTS: dict[str, Callable[[Product], str]] = {
    "price": _price,
    "deal": _deal,
    "specs": _specs,
    "ease": lambda p: p.ease_of_use,
    "highlight": lambda p: p.highlight,
    "release": lambda p: f"released {p.release_date:%-d %b %Y}",
    "rating": lambda p: f"rated {p.rating:.1f}/5",
}


def _facts(p: Product, facts: Sequence[str]) -> str:
    parts = (FACTS[f](p).strip().rstrip(".") for f in facts)
    return "; ".join(part for part in parts if part)


def product_line(p: Product, facts: Sequence[str]) -> str:
    return f"• {p.name}: {_facts(p, facts)}"


# --- which products lead ------------------------------------------------------


def _top_rated(c: Catalogue, cat: str | None) -> list[Product]:
    return sorted(c.in_category(cat), key=lambda p: (-p.rating, p.price))


def _easiest(c: Catalogue, cat: str | None) -> list[Product]:
    return sorted(c.in_category(cat), key=lambda p: (-p.ease_score, -p.rating, p.price))


def _most_capable(c: Catalogue, cat: str | None) -> list[Product]:
    return sorted(c.in_category(cat), key=lambda p: (-p.price, -p.rating))


def _best_value(c: Catalogue, cat: str | None) -> list[Product]:
    return sorted(c.in_category(cat), key=lambda p: (not p.on_deal, p.deal_price))


def _deals(c: Catalogue, cat: str | None) -> list[Product]:
    return c.deals(cat)


def _deals_new_first(c: Catalogue, cat: str | None) -> list[Product]:
    return sorted(c.deals(cat), key=lambda p: (not c.is_new(p), -p.discount_pct))


def _easy_deals(c: Catalogue, cat: str | None) -> list[Product]:
    return sorted(c.deals(cat), key=lambda p: (-p.ease_score, -p.discount_pct))


def _new_easiest(c: Catalogue, cat: str | None) -> list[Product]:
    return sorted(c.new_arrivals(cat), key=lambda p: (-p.ease_score, p.price))


def _new(c: Catalogue, cat: str | None) -> list[Product]:
    return c.new_arrivals(cat)


def _new_cheapest(c: Catalogue, cat: str | None) -> list[Product]:
    return sorted(c.new_arrivals(cat), key=lambda p: p.deal_price)


@dataclass(frozen=True)
class Section:
    title: str
    pick: Callable[[Catalogue, str | None], list[Product]]
    facts: tuple[str, ...]
    limit: int = 3
    empty: str = ""


@dataclass(frozen=True)
class Play:
    sections: tuple[Section, ...]
    closing: str = ""


S = Section
NO_DEALS = "There are no discounts on {cat} today."
NO_NEW = "Nothing new in {cat} in the last few months."

PLAYBOOK: dict[str, dict[str, Play]] = {
    RECOMMEND: {
        FREQUENT_BUYER: Play(
            (
                S("Welcome back! New in {cat}:", _new, ("release", "price"), 2, NO_NEW),
                S("Today's deals on {cat}:", _deals_new_first, ("deal",), 2, NO_DEALS),
            )
        ),
        BARGAIN_HUNTER: Play(
            (S("Best value {cat}, deals first:", _best_value, ("deal", "highlight"), 3),),
            "Prices already include today's discounts.",
        ),
        TECH_ENTHUSIAST: Play(
            (S("The most capable {cat}, specs first:", _most_capable, ("specs", "price"), 3),),
            "Ask for the full specs of any model.",
        ),
        CASUAL_BROWSER: Play(
            (S("Easy-going {cat} that just work:", _easiest, ("ease", "price"), 3),)
        ),
        NEW_VISITOR: Play(
            (
                S(
                    "Welcome! A simple place to start with {cat}:",
                    _easiest,
                    ("highlight", "ease", "price"),
                    2,
                ),
            ),
            "Take your time: you can ask me about specs, deals or what's new whenever you like.",
        ),
        DEFAULT: Play((S("Popular {cat}:", _top_rated, ("highlight", "price"), 3),)),
    },
    DEALS: {
        FREQUENT_BUYER: Play(
            (
                S(
                    "Deals on {cat}, the newest models first:",
                    _deals_new_first,
                    ("deal", "release"),
                    4,
                    NO_DEALS,
                ),
            )
        ),
        BARGAIN_HUNTER: Play(
            (S("Biggest savings on {cat} right now:", _deals, ("deal", "highlight"), 5, NO_DEALS),)
        ),
        TECH_ENTHUSIAST: Play(
            (S("Discounted {cat} with their key specs:", _deals, ("deal", "specs"), 3, NO_DEALS),)
        ),
        CASUAL_BROWSER: Play(
            (
                S(
                    "Good offers on {cat} that are easy to use:",
                    _easy_deals,
                    ("deal", "ease"),
                    3,
                    NO_DEALS,
                ),
            )
        ),
        NEW_VISITOR: Play(
            (
                S(
                    "Here are a few offers on {cat}, each a good first pick:",
                    _deals,
                    ("deal", "highlight"),
                    2,
                    NO_DEALS,
                ),
            ),
            "Ask me to explain any of them.",
        ),
        DEFAULT: Play((S("Current deals on {cat}:", _deals, ("deal", "highlight"), 3, NO_DEALS),)),
    },
    NEW_ARRIVALS: {
        FREQUENT_BUYER: Play(
            (S("Fresh in {cat} since your last visit:", _new, ("release", "deal"), 4, NO_NEW),)
        ),
        BARGAIN_HUNTER: Play(
            (S("New {cat}, lowest price first:", _new_cheapest, ("deal", "release"), 3, NO_NEW),)
        ),
        TECH_ENTHUSIAST: Play(
            (S("Just released {cat}, with the specs:", _new, ("release", "specs"), 3, NO_NEW),)
        ),
        CASUAL_BROWSER: Play(
            (
                S(
                    "New {cat} that are easy to get on with:",
                    _new_easiest,
                    ("ease", "price"),
                    3,
                    NO_NEW,
                ),
            )
        ),
        NEW_VISITOR: Play(
            (S("Our newest {cat}, in a nutshell:", _new, ("highlight", "price"), 2, NO_NEW),)
        ),
        DEFAULT: Play((S("New arrivals in {cat}:", _new, ("release", "price"), 3, NO_NEW),)),
    },
}


@functools.lru_cache(maxsize=1024)  # pure function of immutable inputs; saves ~30 us a turn
def render_listing(
    intent: str, persona: str, catalogue: Catalogue, category: str | None, compact: bool = False
) -> str:
    """The answer to a recommendation, deals or new-arrivals request.

    `compact` (a phone screen) keeps at most two products per section.
    """
    plays = PLAYBOOK[intent]
    play = plays.get(persona, plays[DEFAULT])
    cat = category_label(category)
    lines: list[str] = []
    for section in play.sections:
        limit = min(section.limit, 2) if compact else section.limit
        products = section.pick(catalogue, category)[:limit]
        if products:
            lines.append(section.title.format(cat=cat))
            lines.extend(product_line(p, section.facts) for p in products)
        elif section.empty:
            lines.append(section.empty.format(cat=cat))
    if play.closing:
        lines.append(play.closing)
    return "\n".join(lines)


SPEC_FACTS: dict[str, tuple[str, ...]] = {
    TECH_ENTHUSIAST: ("specs", "price", "rating"),
    BARGAIN_HUNTER: ("deal", "specs"),
    CASUAL_BROWSER: ("ease", "price"),
    FREQUENT_BUYER: ("release", "specs", "deal"),
    NEW_VISITOR: ("highlight", "ease", "price"),
    DEFAULT: ("highlight", "specs", "price"),
}


def render_specs(persona: str, product: Product) -> str:
    """What to say about one product, most relevant facts first."""
    facts = SPEC_FACTS.get(persona, SPEC_FACTS[DEFAULT])
    if persona == TECH_ENTHUSIAST:
        lines = [f"{product.name} ({category_label(product.category)}), full specs:"]
        lines += [f"• {k.replace('_', ' ')}: {v}" for k, v in product.specs.items()]
        lines.append(f"• price: {_price(product)}; {FACTS['rating'](product)}")
        return "\n".join(lines)
    return f"{product.name}: {_facts(product, facts)}."


def render_unknown_product(name: str | None, catalogue: Catalogue) -> str:
    examples = ", ".join(p.name for p in _top_rated(catalogue, None)[:3])
    if name:
        return (
            f'I couldn\'t find "{name[:60]}" in our catalogue. Try a model name such as {examples}.'
        )
    return f"Which model would you like the specs of? For example {examples}."


def render_ask_category(persona: str) -> str:
    options = ", ".join(category_label(c) for c in CATEGORIES)
    if persona == NEW_VISITOR:
        return f"Happy to help you find something! What are you shopping for: {options}?"
    return f"What are you looking for: {options}?"
