"""Where a store policy differs for this shopper: frequent buyers get free delivery on
every order and a longer return window. The policy texts themselves are data
(domain.yml, utter_policy/*); this says only which extra line, if any, applies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.shopper import ShopperFacts

FREQUENT_ORDERS = 5  # orders placed before delivery is free and returns take 60 days
SURE = 0.6  # below this ResponseSelector confidence the answer names the other policies
POLICIES = {
    "delivery": "delivery",
    "returns": "returns",
    "warranty": "warranty",
    "payment": "payment",
    "price_match": "price matching",
    "opening_hours": "opening hours",
}


@dataclass(frozen=True)
class Selected:
    """What the ResponseSelector chose for the message (policy key without the
    `policy/` prefix) and how sure it was."""

    policy: str | None
    confidence: float


def selected_policy(parse_data: Mapping | None) -> Selected:
    """The policy out of Rasa's parse data; anything missing or malformed: none, 0."""
    selector = (parse_data or {}).get("response_selector")
    chosen = selector.get("policy") if isinstance(selector, Mapping) else None
    response = chosen.get("response") if isinstance(chosen, Mapping) else None
    if not isinstance(response, Mapping):
        return Selected(None, 0.0)
    key = response.get("intent_response_key")
    policy = key.split("/", 1)[1] if isinstance(key, str) and "/" in key else None
    confidence = response.get("confidence")
    confidence = float(confidence) if isinstance(confidence, int | float) else 0.0
    return Selected(policy if policy in POLICIES else None, confidence)


def perk(policy: str | None, facts: ShopperFacts, personalized: bool) -> tuple[str, dict] | None:
    """The catalogue response (and its values) that says how the policy differs for this
    shopper; None when it does not (or we may not use their orders)."""
    if not personalized or policy not in ("delivery", "returns"):
        return None
    if facts.orders >= FREQUENT_ORDERS:
        return f"policy_{policy}_perk", {"orders": facts.orders}
    if policy == "delivery" and facts.orders > 0:
        return "policy_delivery_progress", {"left": FREQUENT_ORDERS - facts.orders}
    return None


def other_policies(policy: str | None) -> str:
    """The policies a shopper may have meant instead, in words."""
    names = [name for key, name in POLICIES.items() if key != policy]
    return ", ".join(names[:-1]) + " or " + names[-1]
