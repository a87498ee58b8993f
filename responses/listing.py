"""Building blocks the catalogue names: which products lead a section, and facts about one.

The catalogue (responses/catalogue.yml) says `pick: easiest` and
`facts: [ease, price]`; the code behind each name lives here, so wording can
change freely while product logic stays tested Python.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from core.products import Product, ProductCatalogue


def euros(amount: float) -> str:
    return f"€{amount:,.0f}" if amount == int(amount) else f"€{amount:,.2f}"


def price_text(p: Product) -> str:
    """The price as every answer shows it, discount included."""
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
    "price": price_text,
    "deal": _deal,
    "specs": _specs,
    "ease": lambda p: p.ease_of_use,
    "highlight": lambda p: p.highlight,
    "release": lambda p: f"released {p.release_date:%-d %b %Y}",
    "rating": lambda p: f"rated {p.rating:.1f}/5",
    "price_and_rating": lambda p: f"price: {price_text(p)}; rated {p.rating:.1f}/5",
}
# Facts that expand to one line per item in a list layout.
LIST_FACTS: dict[str, Callable[[Product], list[str]]] = {
    "all_specs": lambda p: [f"{k.replace('_', ' ')}: {v}" for k, v in p.specs.items()],
}


def facts_inline(p: Product, facts: Sequence[str]) -> str:
    parts = (FACTS[f](p).strip().rstrip(".") for f in facts if f in FACTS)
    return "; ".join(part for part in parts if part)


def facts_lines(p: Product, facts: Sequence[str]) -> list[str]:
    lines: list[str] = []
    for f in facts:
        if f in LIST_FACTS:
            lines += LIST_FACTS[f](p)
        elif f in FACTS:
            lines.append(FACTS[f](p).strip().rstrip("."))
    return [line for line in lines if line]


def product_line(p: Product, facts: Sequence[str]) -> str:
    return f"• {p.name}: {facts_inline(p, facts)}"


def _top_rated(c: ProductCatalogue, cat: str | None) -> list[Product]:
    return sorted(c.in_category(cat), key=lambda p: (-p.rating, p.price))


PICKS: dict[str, Callable[[ProductCatalogue, str | None], list[Product]]] = {
    "top_rated": _top_rated,
    "easiest": lambda c, cat: sorted(
        c.in_category(cat), key=lambda p: (-p.ease_score, -p.rating, p.price)
    ),
    "most_capable": lambda c, cat: sorted(c.in_category(cat), key=lambda p: (-p.price, -p.rating)),
    "best_value": lambda c, cat: sorted(
        c.in_category(cat), key=lambda p: (not p.on_deal, p.deal_price)
    ),
    "cheapest": lambda c, cat: sorted(c.in_category(cat), key=lambda p: (p.deal_price, -p.rating)),
    "deals": lambda c, cat: c.deals(cat),
    "deals_new_first": lambda c, cat: sorted(
        c.deals(cat), key=lambda p: (not c.is_new(p), -p.discount_pct)
    ),
    "easy_deals": lambda c, cat: sorted(
        c.deals(cat), key=lambda p: (-p.ease_score, -p.discount_pct)
    ),
    "new": lambda c, cat: c.new_arrivals(cat),
    "new_easiest": lambda c, cat: sorted(
        c.new_arrivals(cat), key=lambda p: (-p.ease_score, p.price)
    ),
    "new_cheapest": lambda c, cat: sorted(c.new_arrivals(cat), key=lambda p: p.deal_price),
}


@functools.lru_cache(maxsize=256)  # the catalogue is immutable once loaded
def category_facts(c: ProductCatalogue, category: str | None) -> dict[str, object]:
    """ProductCatalogue facts a template may quote or a condition may test, for one category.

    Callers must not modify the returned dict (it is shared through the cache).
    """
    deals = c.deals(category)
    return {
        "deal_count": len(deals),
        "top_discount": f"{max((p.discount_pct for p in deals), default=0)}%",
        "top_saving": euros(max((p.price - p.deal_price for p in deals), default=0)),
        "new_count": len(c.new_arrivals(category)),
        "has_deals": bool(deals),
        "has_new": bool(c.new_arrivals(category)),
    }


def examples(c: ProductCatalogue, category: str | None = None, n: int = 3) -> str:
    """Model names to try: the best rated of the shopper's favourite category, if known."""
    return ", ".join(p.name for p in _top_rated(c, category)[:n])
