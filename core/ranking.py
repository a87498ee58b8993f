"""Which products a composed listing shows, in which order, and how many: a pure function of
the product catalogue, a segment's traits and the shopper's price band.

The response engine (responses/engine.py) lists `ranked(...)[:fit.length]` for the
catalogue's `for_you` picks; the fairness audit (segmentation/fairness.py) calls the same
functions offline to measure what each segment is shown. It lives in the kernel so both
can use it without importing each other.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from core.products import Product, ProductCatalogue
from core.shopper import BAND_RANGES
from core.traits import LOYALTY, NOVELTY, PRICE, SIMPLICITY, TECH, Traits

FOR_YOU = "for_you"
# Composed picks: the shopper's ranking, over all products, the deals, or the new arrivals.
FOR_YOU_PICKS = ("for_you", "deals_for_you", "new_for_you")


@dataclass(frozen=True)
class Fit:
    """What a composed listing depends on: the traits, the shopper's price band, the device."""

    traits: Traits
    price_band: str | None = None
    compact: bool = False

    @property
    def length(self) -> int:
        """Deep technical interest reads more on a big screen; simplicity wants fewer."""
        traits = self.traits
        if self.compact or traits.score(SIMPLICITY) >= 0.7:
            return 2
        return 4 if traits.score(TECH) >= 0.65 or traits.score(NOVELTY) >= 0.75 else 3


def _utility(
    p: Product, c: ProductCatalogue, top: float, ratings: tuple[float, float], fit: Fit
) -> float:
    """`top` the category's highest price, `ratings` its lowest and highest rating."""
    low, high = ratings
    parts = {
        PRICE: p.discount_pct / 40 + (1 - p.deal_price / top),
        NOVELTY: 1.0 if c.is_new(p) else 0.0,
        TECH: p.price / top + len(p.specs) / 10,
        SIMPLICITY: (p.ease_score - 1) / 4,
        LOYALTY: (p.rating - low) / ((high - low) or 1.0),
    }
    value = sum(fit.traits.score(t) ** 2 * part for t, part in parts.items())
    if fit.price_band in BAND_RANGES:
        lo, hi = BAND_RANGES[fit.price_band]
        value += 0.8 if lo <= p.deal_price <= hi else -0.8
    return value


@functools.lru_cache(maxsize=4096)
def ranked(
    c: ProductCatalogue, category: str | None, fit: Fit, pick: str = FOR_YOU
) -> tuple[Product, ...]:
    """The products of the category (all, on deal, or new) in the order this shopper should
    see them; utilities compare within the whole category, so a deal is ranked as a
    product first."""
    everything = c.in_category(category)
    if pick == "deals_for_you":
        pool = [p for p in everything if p.on_deal]
    elif pick == "new_for_you":
        pool = [p for p in everything if c.is_new(p)]
    else:
        pool = everything
    if not pool:
        return ()
    top = max(p.price for p in everything) or 1.0
    ratings = (min(p.rating for p in everything), max(p.rating for p in everything))
    key = {p.name: _utility(p, c, top, ratings, fit) for p in pool}
    return tuple(sorted(pool, key=lambda p: (-key[p.name], p.name)))
