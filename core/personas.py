"""The personas the assistant can speak to, the behaviour that marks each, and how a stored
segment maps to one."""

from __future__ import annotations

FREQUENT_BUYER = "frequent_buyer"
BARGAIN_HUNTER = "bargain_hunter"
TECH_ENTHUSIAST = "tech_enthusiast"
CASUAL_BROWSER = "casual_browser"
NEW_VISITOR = "new_visitor"
DEFAULT = "default"

PERSONAS: tuple[str, ...] = (
    FREQUENT_BUYER,
    BARGAIN_HUNTER,
    TECH_ENTHUSIAST,
    CASUAL_BROWSER,
    NEW_VISITOR,
    DEFAULT,
)

# What marks each persona in behaviour: feature -> weight of its z-score (high when positive,
# low when negative). Segmentation pairs segments with personas by these (segmentation/labels.py).
SIGNATURES: dict[str, dict[str, float]] = {
    FREQUENT_BUYER: {
        "frequency": 1.0,
        "recency_days": -1.0,
        "monetary": 0.5,
        "share_new_arrivals": 1.0,
    },
    BARGAIN_HUNTER: {"share_deals": 1.5, "avg_order_value": -1.0},
    TECH_ENTHUSIAST: {"share_specs": 1.5, "avg_order_value": 1.0, "messages_per_session": 0.5},
    CASUAL_BROWSER: {"share_recommendations": 1.0, "frequency": -0.5, "sessions": -0.5},
    NEW_VISITOR: {"has_purchases": -1.5, "sessions": -0.5},
}


def is_persona(value: object) -> bool:
    return isinstance(value, str) and value in PERSONAS
