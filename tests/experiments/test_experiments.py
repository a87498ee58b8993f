"""Assignment tables, traffic split, bandit regret and offline estimates (fixed seeds)."""

from __future__ import annotations

import collections

import pytest

from experiments.assignment import (
    Experiment,
    assign,
    bucket_ranges,
    choose_variant,
    fnv1a32,
    position,
    repair_weights,
)
from experiments.bandit import ThompsonBandit
from experiments.offline import ips, snips
from experiments.simulate import ARMS, PREFERENCES, simulate


@pytest.mark.parametrize(
    "text, value", [("", 0x811C9DC5), ("a", 0xE40C292C), ("foobar", 0xBF9CF968)]
)
def test_fnv1a32_reference_values(text, value):
    assert fnv1a32(text) == value


@pytest.mark.parametrize(
    "weights, coverage, expected",
    [
        ([0.5, 0.5], 1.0, [(0.0, 0.5), (0.5, 1.0)]),
        ([0.25, 0.75], 0.5, [(0.0, 0.125), (0.125, 0.5)]),
        ([1, 1, 2], 1.0, [(0.0, 0.25), (0.25, 0.5), (0.5, 1.0)]),  # repaired: sum 4
        ([0, 0], 1.0, [(0.0, 0.5), (0.5, 1.0)]),  # unusable: equal split
        ([-1, "x", 3], 1.0, [(0.0, 0.0), (0.0, 0.0), (0.0, 1.0)]),
    ],
)
def test_bucket_ranges(weights, coverage, expected):
    ranges = bucket_ranges(weights, coverage)
    assert [(round(a, 6), round(b, 6)) for a, b in ranges] == expected


@pytest.mark.parametrize("n, index", [(0.0, 0), (0.49, 0), (0.5, 1), (0.99, 1), (1.0, None)])
def test_choose_variant(n, index):
    assert choose_variant(n, [(0.0, 0.5), (0.5, 1.0)]) == index


def test_weights_that_do_not_sum_to_one_are_repaired_with_a_warning(caplog):
    assert repair_weights([2, 2]) == [0.5, 0.5]
    assert "do not sum to 1" in caplog.text


EXP = Experiment("reco-copy", ("control", "story"), (0.5, 0.5), personas=("bargain_hunter",))


def test_assignment_is_deterministic_and_respects_eligibility():
    first = [assign(EXP, f"u{i}", "bargain_hunter") for i in range(200)]
    again = [assign(EXP, f"u{i}", "bargain_hunter") for i in range(200)]
    assert first == again and set(first) == {"control", "story"}
    assert assign(EXP, "u1", "tech_enthusiast") is None


def test_ten_thousand_users_split_within_tolerance():
    counts = collections.Counter(assign(EXP, f"user-{i}", "bargain_hunter") for i in range(10_000))
    assert abs(counts["control"] - 5000) < 250 and abs(counts["story"] - 5000) < 250
    other = Experiment("other-key", EXP.variants, EXP.weights)
    same = sum(
        assign(EXP, f"user-{i}", "bargain_hunter") == assign(other, f"user-{i}", "x")
        for i in range(10_000)
    )
    assert 4500 < same < 5500  # different experiments are independent


def test_positions_are_uniform():
    values = [position("k", f"u{i}") for i in range(10_000)]
    assert all(0 <= v < 1 for v in values)
    assert abs(sum(v < 0.1 for v in values) - 1000) < 150


def test_bandit_validates_and_keeps_a_minimum_share():
    with pytest.raises(ValueError, match="at least 2 arms"):
        ThompsonBandit(("only",))
    with pytest.raises(ValueError, match="min_share"):
        ThompsonBandit(("a", "b"), min_share=0.6)
    bandit = ThompsonBandit(("a", "b", "c"), min_share=0.05, warmup=10, random_state=0)
    assert list(bandit.probabilities()) == pytest.approx([1 / 3] * 3)  # warm-up: uniform
    for _ in range(200):
        bandit.partial_fit("a", 1.0)
        bandit.partial_fit("b", 0.0)
        bandit.partial_fit("c", 0.0)
    p = bandit.probabilities()
    assert p.sum() == pytest.approx(1.0) and p.min() >= 0.05 and p[0] > 0.85
    arm, propensity = bandit.predict()
    assert arm in ("a", "b", "c") and propensity >= 0.05
    with pytest.raises(KeyError, match="unknown arm 'z'"):
        bandit.partial_fit("z", 1.0)


def test_bandit_regret_falls_below_uniform_choice():
    thompson = simulate("thompson", 3000, seed=1)
    uniform = simulate("uniform", 3000, seed=1)
    assert thompson.regret[-1] < 0.5 * uniform.regret[-1]
    # learning: the second half adds less regret than the first
    half = len(thompson.regret) // 2
    assert thompson.regret[-1] - thompson.regret[half] < thompson.regret[half]


def test_offline_estimates_from_uniform_logs_recover_a_fixed_policy():
    logs = simulate("uniform", 20_000, seed=2).logs

    def always(arm):
        return lambda context, chosen: 1.0 if chosen == arm else 0.0

    for arm in ARMS:
        truth = sum(PREFERENCES[p][arm] for p in PREFERENCES) / len(PREFERENCES)
        assert ips(logs, always(arm)) == pytest.approx(truth, abs=0.02)
        assert snips(logs, always(arm)) == pytest.approx(truth, abs=0.02)

    def best_per_persona(context, chosen):
        return 1.0 if chosen == max(PREFERENCES[context], key=PREFERENCES[context].get) else 0.0

    best = sum(max(v.values()) for v in PREFERENCES.values()) / len(PREFERENCES)
    assert snips(logs, best_per_persona) == pytest.approx(best, abs=0.02)
