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
