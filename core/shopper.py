"""What one shopper's own history says, beside their segment: the facts that refine the
segment's answer (price band, favourite and recent categories, a recent purchase, a long
absence). Built from the profile (CRM imports) and the live features (purchases through
the gateway); both may be missing, then the fact is None.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.categories import COMPANIONS

PRICE_BANDS: tuple[str, ...] = ("budget", "mid", "premium")
BUDGET_BELOW, PREMIUM_FROM = 150.0, 600.0  # euros per order
# The price range each band prefers, in euros (responses/composition.py ranks by it).
BAND_RANGES: dict[str, tuple[float, float]] = {
    "budget": (0.0, 250.0),
    "mid": (150.0, 900.0),
    "premium": (600.0, 100_000.0),
}
RECENT_ORDER_S = 30 * 86400  # a purchase this recent: suggest what goes with it
LONG_ABSENCE_S = 120 * 86400  # a last purchase this old: welcome the shopper back


def price_band(order_count: float | None, order_total: float | None) -> str | None:
    if not order_count or order_total is None or order_count <= 0 or order_total <= 0:
        return None
    average = order_total / order_count
    return "budget" if average < BUDGET_BELOW else "premium" if average >= PREMIUM_FROM else "mid"


@dataclass(frozen=True)
class ShopperFacts:
    price_band: str | None = None
    favourite_category: str | None = None
    last_order_category: str | None = None
    last_order_at: float | None = None
    orders: int = 0
    spend: float = 0.0  # euros over those orders

    def recent_order(self, now: float) -> bool:
        return self.last_order_at is not None and 0 <= now - self.last_order_at <= RECENT_ORDER_S

    def long_absence(self, now: float) -> bool:
        return self.last_order_at is not None and now - self.last_order_at >= LONG_ABSENCE_S

    def companion(self, now: float) -> str | None:
        """A category that goes with a recent purchase (not the purchase's own)."""
        if not self.recent_order(now) or self.last_order_category not in COMPANIONS:
            return None
        return COMPANIONS[self.last_order_category][0]


NO_FACTS = ShopperFacts()
