"""The report's statistics against values worked out independently (table-driven)."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from experiments.significance import chance_to_beat, lift, srm_p, two_proportion_p, wilson


@pytest.mark.parametrize(
    "conv, users, low, high",
    [
        (5, 10, 0.2366, 0.7634),
        (0, 10, 0.0, 0.2775),
        (10, 10, 0.7225, 1.0),
        (50, 1000, 0.0381, 0.0653),
    ],
)
def test_wilson(conv, users, low, high):
    lo, hi = wilson(conv, users)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


def test_wilson_without_users_is_undefined():
    assert all(math.isnan(x) for x in wilson(0, 0))


@pytest.mark.parametrize(
    "c1, n1, c2, n2",
    [(100, 1000, 130, 1000), (10, 200, 12, 180), (500, 5000, 500, 5000)],
)
def test_two_proportion_p_matches_the_textbook_formula(c1, n1, c2, n2):
    p1, p2, pooled = c1 / n1, c2 / n2, (c1 + c2) / (n1 + n2)
    z = (p2 - p1) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    assert two_proportion_p(c1, n1, c2, n2) == pytest.approx(2 * (1 - stats.norm.cdf(abs(z))))


def test_known_p_value_and_undefined_cases():
    assert two_proportion_p(100, 1000, 130, 1000) == pytest.approx(0.0355, abs=5e-4)  # z = 2.10
    assert math.isnan(two_proportion_p(0, 100, 0, 100))
    assert math.isnan(two_proportion_p(1, 0, 1, 10))


def test_lift():
    assert lift(0.13, 0.10) == pytest.approx(0.3)
    assert math.isnan(lift(0.1, 0.0))


@pytest.mark.parametrize(
    "control, variant, low, high",
    [
        ((100, 1000), (100, 1000), 0.47, 0.53),
        ((100, 1000), (150, 1000), 0.99, 1.0),
        ((150, 1000), (100, 1000), 0.0, 0.01),
    ],
)
def test_chance_to_beat(control, variant, low, high):
    assert low <= chance_to_beat(control, variant) <= high
    assert chance_to_beat(control, variant) == chance_to_beat(control, variant)  # seeded


@pytest.mark.parametrize(
    "observed, flagged",
    [((5000, 5000), False), ((5060, 4940), False), ((5200, 4800), True), ((5600, 4400), True)],
)
def test_sample_ratio_mismatch(observed, flagged):
    assert (srm_p(observed, (0.5, 0.5)) < 0.001) == flagged
    assert srm_p(observed, (0.5, 0.5)) == pytest.approx(
        stats.chisquare(observed, [sum(observed) / 2] * 2).pvalue
    )


def test_srm_uses_the_configured_weights():
    assert srm_p((7000, 3000), (0.7, 0.3)) > 0.5
    assert math.isnan(srm_p((0, 0), (0.5, 0.5)))
