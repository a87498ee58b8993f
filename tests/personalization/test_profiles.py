"""Profile parsing: what is trusted, what is rejected and why."""

from __future__ import annotations

import pytest

from core.shopper import ShopperFacts
from personalization.profiles import DEFAULT_PROFILE, MalformedProfile, Profile, parse_profile


def test_bytes_from_redis_are_parsed():
    raw = {
        b"segment": b"tech_enthusiast",
        b"favourite_category": b"laptops",
        b"updated_at": b"1764000000",
        b"future_field": b"ignored",
    }
    assert parse_profile(raw) == Profile(
        "tech_enthusiast",
        "laptops",
        None,
        ShopperFacts(favourite_category="laptops"),
    )


def test_blank_optional_fields_are_none():
    assert (
        parse_profile({"segment": "default", "favourite_category": " "}).favourite_category is None
    )


@pytest.mark.parametrize("raw", [{}, {"segment": ""}, {"segment": "  "}])
def test_without_a_segment_override_the_model_decides(raw):
    """`segment` is an optional explicit override now; leaving it out is no error."""
    assert parse_profile(raw) == DEFAULT_PROFILE
    assert parse_profile({**raw, "favourite_category": "laptops"}).segment is None


@pytest.mark.parametrize(
    "count, total, band",
    [
        ("3", "90", "budget"),  # €30 an order
        ("2", "600", "mid"),  # €300 an order
        ("4", "3600", "premium"),  # €900 an order
        ("0", "100", None),  # no orders: no band
        ("", "100", None),
        ("2", "", None),
    ],
)
def test_the_crm_order_history_gives_the_price_band(count, total, band):
    profile = parse_profile({"order_count": count, "order_total": total})
    assert profile.facts.price_band == band
    assert profile.facts.orders == int(count or 0)


def test_the_last_order_and_favourite_are_shopper_facts():
    profile = parse_profile(
        {
            b"favourite_category": b"headphones",
            b"last_order_at": b"1764000000",
            b"last_order_category": b"laptops",
            b"order_count": b"1",
            b"order_total": b"1299.5",
        }
    )
    assert profile.segment is None and profile.favourite_category == "headphones"
    assert profile.facts == ShopperFacts(
        price_band="premium",
        favourite_category="headphones",
        last_order_category="laptops",
        last_order_at=1764000000.0,
        orders=1,
        spend=1299.5,
    )
    assert profile.facts.recent_order(1764000000.0 + 86400)
    assert profile.facts.companion(1764000000.0 + 86400) == "headphones"  # goes with a laptop
    assert profile.facts.long_absence(1764000000.0 + 200 * 86400)


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"segment": "x" * 500}, "not a known persona"),
        ({"segment": "seg-03"}, "not a known persona"),  # an override names a preset
        ({"segment": b"\xc3"}, "not valid UTF-8"),
        ({"segment": 7}, "expected text"),
        ({"segment": "default", "recent_category": "cars"}, "recent_category"),
        ({"segment": "default", "updated_at": "nan-ish"}, "unix timestamp"),
        ({"order_count": "lots"}, "'order_count' is not a number of orders"),
        ({"order_total": "-5"}, "'order_total' is not an amount in euros"),
        ({"order_total": "inf"}, "'order_total' is not an amount in euros"),
        ({"last_order_at": "soon"}, "'last_order_at' is not a unix timestamp"),
        ({"last_order_category": "toasters"}, "last_order_category"),
    ],
)
def test_malformed_profiles_are_rejected_with_the_field_named(raw, message):
    with pytest.raises(MalformedProfile, match=message):
        parse_profile(raw)
