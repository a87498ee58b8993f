"""Answers composed from traits and the shopper's own facts: why the products lead (which
ones, in which order and how many is core/ranking.py), what is said about each, the tone of
the lines around it.

Everything here is a pure, cached function of immutable inputs (the product catalogue, a
Traits, a few facts), so a segment the analyst just added gets a fitting answer without
a new persona, and the per-turn cost is a dictionary lookup. The catalogue uses the
results as `pick: for_you`, `facts: [for_you]` and the variables in COMPOSED.
"""

from __future__ import annotations

import functools

from core.categories import category_label
from core.products import ProductCatalogue
from core.ranking import Fit
from core.traits import EXPERIENCE, HIGH, LOW, LOYALTY, NOVELTY, PRICE, SIMPLICITY, TECH, Traits
from responses.cues import Cues
from responses.listing import category_facts

COMPOSED = frozenset({"pitch", "why", "lead", "hook", "usual", "offer", "favourite"})

# What each trait makes an answer say about a product, and how it words things.
FACT_OF = {PRICE: "deal", NOVELTY: "release", TECH: "specs", SIMPLICITY: "ease", LOYALTY: "rating"}
LEAD = {
    PRICE: "Best-value",
    NOVELTY: "The newest",
    TECH: "The most capable",
    SIMPLICITY: "Easy-going",
    LOYALTY: "Our most loved",
}
PITCH = {
    PRICE: "best value first, with today's savings",
    NOVELTY: "the newest models first",
    TECH: "ranked by capability, with the key specs",
    SIMPLICITY: "chosen for being easy to set up and use",
    LOYALTY: "the models our regulars rate highest",
}
LIKES = {
    PRICE: "a good deal",
    NOVELTY: "new arrivals",
    TECH: "the specs",
    SIMPLICITY: "things that just work",
    LOYALTY: "trusted favourites",
}
USUAL = {
    PRICE: "today's deals on {c}",
    NOVELTY: "what's new in {c}",
    TECH: "the specs of our {c}",
    SIMPLICITY: "{c} that are easy to use",
    LOYALTY: "our best-rated {c}",
}
OFFER = {
    PRICE: "Want the full list of discounts in this category?",
    NOVELTY: "Shall I show you the deals too, newest models first?",
    TECH: "Want the current deals as well, with their key specs?",
    SIMPLICITY: "Would you like to see the current deals as well?",
    LOYALTY: "Shall I show you today's deals in this category too?",
}
USUAL_ANY = {  # without a favourite or a category in the conversation
    PRICE: "today's deals",
    NOVELTY: "what's new",
    TECH: "the specs of any model",
    SIMPLICITY: "devices that are easy to use",
    LOYALTY: "our best-rated products",
}
# When shoppers like this one usually shop (the segment's daypart): part of the "why".
HABIT = {
    "night": ", mostly late at night",
    "morning": ", mostly in the morning",
    "afternoon": ", mostly in the afternoon",
    "evening": ", mostly in the evening",
}
UNPLACED_USUAL = "a recommendation, today's deals, what's new, or the specs of a model"


def _strength(score: float, second: bool = False) -> str:
    if score >= 0.8:
        return "just as much" if second else "above all"
    return "often" if score >= 0.6 else "sometimes"


def fit_of(cues: Cues, compact: bool) -> Fit:
    """Compact on a phone, and when the device is unknown but the segment usually writes
    from one."""
    usual_phone = cues.device is None and cues.traits.device == "mobile"
    return Fit(cues.traits, cues.price_band, compact or usual_phone)


@functools.lru_cache(maxsize=1024)
def facts_for(traits: Traits) -> tuple[str, ...]:
    """Facts of the two strongest traits, and the price unless a deal already says it."""
    facts = [FACT_OF[t] for t in traits.ranked()[:2]]
    if "deal" not in facts:
        facts.append("price")
    return tuple(facts)


@functools.lru_cache(maxsize=4096)
def _composed(
    c: ProductCatalogue,
    traits: Traits,
    category: str | None,
    favourite: str | None,
    price_band: str | None,
    companion: str | None,
    last_order: str | None,
) -> dict[str, str]:
    if not traits.placed:
        return {
            "pitch": "Here's where most people start.",
            "why": "Ask me for today's deals, the specs of a model or what's new, "
            "and I'll learn what suits you.",
            "lead": "Popular",
            "hook": "Tell me what you're after and I'll find the right fit.",
            "usual": UNPLACED_USUAL,
            "offer": "Would you like to see the current deals as well?",
            "favourite": category_label(favourite),
        }
    first, second = traits.ranked()[:2]
    topic = favourite or category
    label = category_label(topic)
    facts = category_facts(c, topic)
    on, new = (f" on {label}", f" {label}") if topic else ("", " products")
    hooks = {
        PRICE: f"There are {facts['deal_count']} deals{on} today.",
        NOVELTY: f"There are {facts['new_count']} new{new} in the shop.",
        TECH: "Ask me about any device and I'll give you the specs straight.",
        SIMPLICITY: "I can point you to devices that are simple to use.",
        LOYALTY: "Good to see you again.",
    }
    hook = hooks[first]
    if companion and last_order:
        hook = f"Need something to go with your new {_singular(last_order)}? {hook}"
    why = (
        f"Picked for shoppers who {_strength(traits.score(first))} look for "
        f"{LIKES[first]} and {_strength(traits.score(second), True)} for {LIKES[second]}"
    )
    why += HABIT.get(traits.daypart or "", "")
    if price_band:
        why += f", in your usual {price_band} price range"
    if companion and last_order and category == companion:
        why += f", to go with your {_singular(last_order)}"
    why += "." + _tone(traits)
    return {
        "pitch": f"{category_label(category).capitalize()}, {PITCH[first]}.",
        "why": why,
        "lead": LEAD[first],
        "hook": hook,
        "usual": USUAL[first].format(c=label) if topic else USUAL_ANY[first],
        "offer": OFFER[first],
        "favourite": label,
    }


def _tone(traits: Traits) -> str:
    """New shoppers are offered explanations, experienced ones who drifted away a welcome
    back, regulars a nod to what they know."""
    if traits.score(EXPERIENCE) < LOW:
        return " New here? Ask me to explain any of them."
    if traits.score(LOYALTY) < LOW:
        return " Good to have you back."
    if traits.score(LOYALTY) >= HIGH and traits.score(EXPERIENCE) >= HIGH:
        return " As a regular, you'll know most of the brands."
    return ""


def composed(c: ProductCatalogue, cues: Cues) -> dict[str, str]:
    """The COMPOSED template variables for this turn."""
    return _composed(
        c,
        cues.traits,
        cues.category,
        cues.favourite,
        cues.price_band,
        cues.companion,
        cues.last_order,
    )


SINGULAR = {
    "smartphones": "smartphone",
    "laptops": "laptop",
    "headphones": "headphones",
    "smart_home": "smart-home device",
    "tablets": "tablet",
    "smartwatches": "smartwatch",
}


def _singular(category: str) -> str:
    return SINGULAR.get(category, "purchase")
