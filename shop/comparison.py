"""Products side by side, with what the shopper's segment cares about first.

The traits rank the attributes (a deal seeker sees price first, a tech enthusiast the
specs, a simplicity seeker ease of use); the rest follow in a fixed order, so two shoppers
read the same facts, arranged for them. Pure functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.products import Product
from core.traits import Traits
from responses.composition import facts_for
from responses.listing import euros
from responses.rich import stock_label

MIN_PRODUCTS, MAX_PRODUCTS = 2, 4  # a table wider than four products is unreadable in chat
MAX_SPEC_ROWS = 5


def _price(p: Product) -> str:
    if p.on_deal:
        return f"{euros(p.deal_price)} ({p.discount_pct}% off {euros(p.price)})"
    return euros(p.price)


# Row name -> (label, value of one product). "specs" expands to one row per spec.
ROWS = {
    "price": ("Price", _price),
    "rating": ("Rating", lambda p: f"{p.rating:.1f}/5"),
    "release": ("Released", lambda p: f"{p.release_date:%-d %b %Y}"),
    "ease": ("Ease of use", lambda p: f"{p.ease_score}/5"),
    "stock": ("Availability", stock_label),
    "highlight": ("Highlight", lambda p: p.highlight or "—"),
}
LEAD_WORDS = {"price": "price", "rating": "ratings", "specs": "the specs",
              "release": "how new they are", "ease": "ease of use"}  # fmt: skip
DEFAULT_ORDER = ("price", "rating", "specs", "release", "ease", "stock", "highlight")
FACT_ROW = {"deal": "price", "price": "price", "release": "release", "specs": "specs",
            "ease": "ease", "rating": "rating"}  # fmt: skip


@dataclass(frozen=True)
class Comparison:
    products: tuple[Product, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]  # (label, one value per product)
    lead: str = "price"  # the attribute the shopper's traits put first
    dropped: int = 0  # products asked for beyond MAX_PRODUCTS

    @property
    def title(self) -> str:
        return " vs ".join(p.name for p in self.products)

    @property
    def first(self) -> str:
        """What leads the table, in words (the answer says so)."""
        return LEAD_WORDS.get(self.lead, self.lead)


def row_order(traits: Traits) -> tuple[str, ...]:
    """Attributes in the order this shopper should read them: the traits' facts first."""
    preferred = [FACT_ROW[f] for f in facts_for(traits) if f in FACT_ROW] if traits.placed else []
    order: list[str] = []
    for name in (*preferred, *DEFAULT_ORDER):
        if name not in order:
            order.append(name)
    return tuple(order)


def _spec_rows(products: Sequence[Product]) -> list[tuple[str, tuple[str, ...]]]:
    keys: list[str] = []
    for p in products:
        keys += [k for k in p.specs if k not in keys]
    return [
        (k.replace("_", " ").capitalize(), tuple(p.specs.get(k, "—") for p in products))
        for k in keys[:MAX_SPEC_ROWS]
    ]


def compare(products: Sequence[Product], traits: Traits) -> Comparison:
    """Side by side, at most MAX_PRODUCTS (the first ones named); callers check the minimum."""
    shown = tuple(products[:MAX_PRODUCTS])
    rows: list[tuple[str, tuple[str, ...]]] = []
    order = row_order(traits)
    for name in order:
        if name == "specs":
            rows += _spec_rows(shown)
        else:
            label, value = ROWS[name]
            rows.append((label, tuple(value(p) for p in shown)))
    return Comparison(shown, tuple(rows), order[0], max(0, len(products) - MAX_PRODUCTS))


def plain_rows(comparison: Comparison) -> str:
    """The table as lines, for channels that cannot show one."""
    names = [p.name for p in comparison.products]
    return "\n".join(
        f"• {label}: " + "; ".join(f"{n} {v}" for n, v in zip(names, values, strict=True))
        for label, values in comparison.rows
    )
