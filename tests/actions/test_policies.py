"""Store policies: Rasa's ResponseSelector answers (utter_policy); action_policy_for_you
adds what differs for this shopper, or an honest line when the selector was unsure."""

from __future__ import annotations

import pytest

from actions.policies import ActionPolicyForYou
from core.shopper import ShopperFacts
from experiments.policy import ArmChooser
from shop.perks import FREQUENT_ORDERS, Selected, perk, selected_policy
from tests.actions.turns import answer, message
from tests.conftest import services

BASE = ArmChooser(None, None)


def selector(policy: str, confidence: float) -> dict:
    """Parse data as Rasa 3.6's ResponseSelector writes it."""
    response = {
        "responses": [{"text": "..."}],
        "confidence": confidence,
        "intent_response_key": f"policy/{policy}",
        "utter_action": f"utter_policy/{policy}",
    }
    return {
        "response_selector": {
            "all_retrieval_intents": ["policy"],
            "policy": {"response": response, "ranking": []},
        }
    }


async def policy_turn(store, domain, policy, confidence=0.97, orders=None, sender=None):
    if orders is not None:
        await store.put_profile(sender or "user_test", {"order_count": orders})
    kw = {"sender": sender} if sender else {}
    tracker = message("how much is shipping", "policy", parse=selector(policy, confidence), **kw)
    return await answer(ActionPolicyForYou(services(store, chooser=BASE)), tracker, domain)


async def test_a_frequent_buyer_hears_of_free_delivery_and_longer_returns(store, domain):
    messages, _ = await policy_turn(store, domain, "delivery", orders=8)
    assert [m["text"] for m in messages] == [
        "For you it's better: with 8 orders behind you, delivery is free on every order, "
        "whatever the amount, and express next-day costs €4.99 instead of €9.99."
    ]
    messages, _ = await policy_turn(store, domain, "returns")
    assert "60 days instead of 30" in messages[0]["text"]


async def test_a_shopper_with_few_orders_hears_how_far_the_perk_is(store, domain):
    messages, _ = await policy_turn(store, domain, "delivery", orders=2)
    assert messages[0]["text"] == (
        f"After {FREQUENT_ORDERS - 2} more orders, delivery is free for you on every order, "
        "whatever the amount."
    )


async def test_the_same_policy_for_everyone_adds_nothing(store, domain):
    messages, _ = await policy_turn(store, domain, "warranty", orders=8)
    assert messages == []
    messages, _ = await policy_turn(store, domain, "delivery", orders=0)
    assert messages == []
    # Without consent the order count may not shape the answer.
    messages, _ = await policy_turn(store, domain, "delivery", orders=9, sender="stranger")
    assert messages == []


async def test_an_unsure_pick_names_the_other_policies(store, domain):
    messages, _ = await policy_turn(store, domain, "payment", confidence=0.31)
    assert messages[0]["text"] == (
        "If that's not what you asked: I can also tell you about delivery, returns, "
        "warranty, price matching or opening hours."
    )


@pytest.mark.parametrize(
    "parse",
    [
        None,
        {},
        {"response_selector": "x"},
        {"response_selector": {"policy": {"response": 3}}},
        {
            "response_selector": {
                "policy": {"response": {"intent_response_key": "policy/nope", "confidence": "high"}}
            }
        },
    ],
)
def test_malformed_selector_output_reads_as_unsure(parse):
    assert selected_policy(parse) == Selected(None, 0.0)


def test_perks_only_where_the_policy_differs():
    frequent = ShopperFacts(orders=FREQUENT_ORDERS)
    assert perk("delivery", frequent, True) == ("policy_delivery_perk", {"orders": 5})
    assert perk("returns", frequent, True) == ("policy_returns_perk", {"orders": 5})
    assert perk("returns", ShopperFacts(orders=1), True) is None
    assert perk("payment", frequent, True) is None
    assert perk("delivery", frequent, False) is None
