"""Stable segment identities across retrains (Hungarian matching on centroid distance).

Segments are compared by their mean *raw* features, standardised with the new
data's spread, so matching works even when the preprocessing was refitted.
"""

from __future__ import annotations

import re

import numpy as np
from scipy.optimize import linear_sum_assignment

# Matched pairs farther apart than this (in standard deviations, RMS over features)
# are not the same segment: the new cluster gets a new id.
MAX_DISTANCE = 1.5


def segment_id(number: int) -> str:
    return f"seg-{number:02d}"


def _number(seg: str) -> int:
    match = re.fullmatch(r"seg-(\d+)", seg)
    return int(match.group(1)) if match else 0


def match_segments(
    new_profiles: np.ndarray,
    spread: np.ndarray,
    previous: dict[str, np.ndarray] | None,
    max_distance: float = MAX_DISTANCE,
) -> tuple[list[str], dict[str, float]]:
    """Ids for the new clusters (row order of new_profiles) and the matched distances.

    previous maps old segment ids to their profile vectors (same feature order).
    """
    k = new_profiles.shape[0]
    if not previous:
        return [segment_id(i + 1) for i in range(k)], {}
    old_ids = list(previous)
    old = np.vstack([previous[i] for i in old_ids])
    scale = np.where(spread > 0, spread, 1.0)
    diff = (new_profiles[:, None, :] - old[None, :, :]) / scale
    cost = np.sqrt(np.nanmean(diff**2, axis=2))
    rows, cols = linear_sum_assignment(cost)
    ids: list[str | None] = [None] * k
    distances = {}
    for r, c in zip(rows, cols, strict=True):
        if cost[r, c] <= max_distance:
            ids[r] = old_ids[c]
            distances[old_ids[c]] = float(cost[r, c])
    next_number = max((_number(i) for i in old_ids), default=0) + 1
    for r in range(k):
        if ids[r] is None:
            ids[r] = segment_id(next_number)
            next_number += 1
    return [str(i) for i in ids], distances
