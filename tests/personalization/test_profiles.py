"""Profile parsing: what is trusted, what is rejected and why."""

from __future__ import annotations

import pytest

from personalization.profiles import MalformedProfile, Profile, parse_profile


def test_bytes_from_redis_are_parsed():
    raw = {
        b"segment": b"tech_enthusiast",
        b"favourite_category": b"laptops",
        b"updated_at": b"1764000000",
        b"future_field": b"ignored",
    }
    assert parse_profile(raw) == Profile("tech_enthusiast", "laptops", None, 1764000000.0)


def test_blank_optional_fields_are_none():
    assert (
        parse_profile({"segment": "default", "favourite_category": " "}).favourite_category is None
    )


@pytest.mark.parametrize(
    "raw, message",
    [
        ({}, "'segment' is missing"),
        ({"segment": ""}, "'segment' is missing"),
        ({"segment": "x" * 500}, "not a known persona"),
        ({"segment": b"\xc3"}, "not valid UTF-8"),
        ({"segment": 7}, "expected text"),
        ({"segment": "default", "recent_category": "cars"}, "recent_category"),
        ({"segment": "default", "updated_at": "nan-ish"}, "unix timestamp"),
    ],
)
def test_malformed_profiles_are_rejected_with_the_field_named(raw, message):
    with pytest.raises(MalformedProfile, match=message):
        parse_profile(raw)
