"""How surprising a disparity is: p-values between the lowest and the highest group.

The four-fifths rule flags a ratio whatever the group sizes, so with a few hundred shoppers
per group chance alone can push a ratio under 0.8. Each ratio therefore also carries the
two-sided p-value of the difference between its two groups: the pooled two-proportion
z-test for membership and conversion, and Welch's t-test for the figures a segment is
shown, whose per-shopper values are their segment's figure. The two groups are the extremes
of the dimension, so the p-value is multiplied by the number of group pairs (Bonferroni);
it is not adjusted across the many ratios of one audit.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from experiments.significance import two_proportion_p

SIGNIFICANT = 0.05


def _clean(p: float) -> float | None:
    return None if p is None or math.isnan(p) else float(f"{p:.3g}")


def bonferroni(p: float | None, groups: int) -> float | None:
    """p for the extreme pair of `groups` groups: times the number of pairs, at most 1."""
    pairs = groups * (groups - 1) // 2
    return None if p is None else min(1.0, float(f"{p * max(pairs, 1):.3g}"))


def proportion_p(low: tuple[int, int], high: tuple[int, int]) -> float | None:
    """(hits, users) of the two groups; None when the test is undefined (0% or 100% both)."""
    return _clean(two_proportion_p(int(low[0]), int(low[1]), int(high[0]), int(high[1])))


def _moments(membership: np.ndarray, figures: np.ndarray, users: int) -> tuple[float, float]:
    mean = float(membership @ figures)
    second = float(membership @ figures**2)
    variance = max(second - mean * mean, 0.0) * users / max(users - 1, 1)
    return mean, math.sqrt(variance)


def shown_p(
    low: tuple[np.ndarray, int], high: tuple[np.ndarray, int], figures: np.ndarray
) -> float | None:
    """(membership row, users) of the two groups and each segment's figure; None when
    neither group varies (every shopper of both sees the same figure)."""
    (m_low, n_low), (m_high, n_high) = low, high
    mean_low, sd_low = _moments(m_low, figures, n_low)
    mean_high, sd_high = _moments(m_high, figures, n_high)
    if sd_low == 0 and sd_high == 0:
        return None
    result = stats.ttest_ind_from_stats(
        mean_low, sd_low, n_low, mean_high, sd_high, n_high, equal_var=False
    )
    return _clean(result.pvalue)
