"""Statistics for A/B reports, as plain functions with documented edge cases.

Undefined results (no users, a control with a zero rate, a pooled rate of 0
or 1) are NaN, which the report shows as "n/a", never as a misleading 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

Z95 = 1.959963984540054
SRM_ALPHA = 0.001  # a sample-ratio mismatch this unlikely means the split is broken


def wilson(conversions: int, users: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a rate; honest near 0 and 1, unlike the normal one."""
    if users <= 0:
        return math.nan, math.nan
    p = conversions / users
    denom = 1 + z * z / users
    centre = (p + z * z / (2 * users)) / denom
    half = z * math.sqrt(p * (1 - p) / users + z * z / (4 * users * users)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def lift(rate: float, control_rate: float) -> float:
    """Relative change vs. control: 0.1 means 10% better."""
    if not control_rate or math.isnan(control_rate) or math.isnan(rate):
        return math.nan
    return rate / control_rate - 1


def two_proportion_p(c1: int, n1: int, c2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test."""
    if n1 <= 0 or n2 <= 0:
        return math.nan
    pooled = (c1 + c2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return math.nan
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = (c2 / n2 - c1 / n1) / se
    return float(2 * stats.norm.sf(abs(z)))


def chance_to_beat(
    control: tuple[int, int], variant: tuple[int, int], draws: int = 40_000, seed: int = 0
) -> float:
    """P(variant's true rate > control's) under Beta(1 + conv, 1 + users - conv) posteriors.

    Seeded Monte Carlo, so a report is reproducible (standard error < 0.003).
    """
    (cc, cn), (vc, vn) = control, variant
    if cn <= 0 or vn <= 0:
        return math.nan
    rng = np.random.default_rng(seed)
    a = rng.beta(1 + cc, 1 + cn - cc, draws)
    b = rng.beta(1 + vc, 1 + vn - vc, draws)
    return float((b > a).mean())


def srm_p(observed: Sequence[int], weights: Sequence[float]) -> float:
    """Chi-square goodness-of-fit p-value of users per variant vs. the configured weights."""
    total = sum(observed)
    if total <= 0 or len(observed) < 2:
        return math.nan
    expected = [total * w / sum(weights) for w in weights]
    return float(stats.chisquare(list(observed), f_exp=expected).pvalue)
