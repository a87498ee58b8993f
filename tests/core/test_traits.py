"""Traits from a segment's centre, presets, and stored traits read back defensively."""

from __future__ import annotations

import math

import pytest

from core.personas import BARGAIN_HUNTER, DEFAULT, PERSONAS, TECH_ENTHUSIAST
from core.traits import (
    MAPPING,
    PRESETS,
    TRAITS,
    UNPLACED,
    WEIGHTS,
    TraitError,
    from_profile,
    parse_traits,
)
from segmentation.features import NUMERIC_COLUMNS


def test_every_weighted_feature_is_a_segmentation_feature():
    assert set(TRAITS) == set(WEIGHTS)
    for weights in WEIGHTS.values():
        assert set(weights) <= set(NUMERIC_COLUMNS)


def test_an_average_centre_is_average_and_strong_features_move_their_trait():
    average = from_profile({})
    assert average.scores == (0.5,) * len(TRAITS) and average.placed
    deals = from_profile({"share_deals": 2.0, "avg_order_value": -1.0})
    assert deals.level("price_sensitivity") == "high" and deals.ranked()[0] == "price_sensitivity"
    specs = from_profile({"share_specs": 2.0, "avg_order_value": 1.5})
    assert specs.level("tech_depth") == "high" and specs.level("price_sensitivity") == "low"


def test_daypart_and_device_come_from_the_centres_own_shares():
    t = from_profile({}, {"share_evening": 0.7, "share_morning": 0.2, "share_mobile": 0.8})
    assert (t.daypart, t.device) == ("evening", "mobile")
    assert from_profile({}, {"share_mobile": math.nan}).device is None


def test_presets_cover_every_persona_and_only_default_is_unplaced():
    assert set(PRESETS) == set(PERSONAS)
    assert not UNPLACED.placed
    for persona, traits in PRESETS.items():
        assert traits.preset == persona and traits.placed == (persona != DEFAULT)
    assert len({t.scores for t in PRESETS.values()}) == len(PRESETS)  # distinct voices


def test_traits_round_trip_through_json_and_the_mapping_is_documented():
    t = PRESETS[TECH_ENTHUSIAST]
    back = parse_traits(t.as_dict(), TECH_ENTHUSIAST)
    assert back.scores == pytest.approx(t.scores, abs=1e-3) and back.preset == TECH_ENTHUSIAST
    assert set(MAPPING) >= {"weights", "levels", "scores"}


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("nope", "mapping"),
        ({t: 0.5 for t in TRAITS[1:]}, "'price_sensitivity' is missing"),
        ({**{t: 0.5 for t in TRAITS}, "novelty": 1.7}, "outside 0..1"),
        ({**{t: 0.5 for t in TRAITS}, "loyalty": True}, "not a number"),
    ],
)
def test_unusable_stored_traits_are_refused_with_the_trait_named(raw, problem):
    with pytest.raises(TraitError, match=problem):
        parse_traits(raw, BARGAIN_HUNTER)


def test_unknown_names_and_values_are_ignored():
    raw = {**{t: 0.5 for t in TRAITS}, "charisma": 0.9, "daypart": "teatime", "device": "toaster"}
    t = parse_traits(raw, "wizard")
    assert (t.daypart, t.device, t.preset) == (None, None, DEFAULT)
