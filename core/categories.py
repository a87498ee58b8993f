"""Product categories: the ids entities, profiles and the catalogue use, and how to say them."""

from __future__ import annotations

CATEGORIES: tuple[str, ...] = (
    "smartphones",
    "laptops",
    "headphones",
    "smart_home",
    "tablets",
    "smartwatches",
)

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


# What goes with a purchase in each category: suggested after it instead of re-selling it.
COMPANIONS: dict[str, tuple[str, ...]] = {
    "smartphones": ("headphones", "smartwatches"),
    "laptops": ("headphones", "tablets"),
    "headphones": ("smartphones", "smartwatches"),
    "smart_home": ("tablets", "smartphones"),
    "tablets": ("headphones", "smart_home"),
    "smartwatches": ("smartphones", "headphones"),
}
