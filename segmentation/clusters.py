"""What SegmentModel and SparkSegmentModel share: parameter checks and the small-cluster merge.

The merge works on per-cluster counts and feature sums only, which Spark aggregates
without collecting rows, so both engines merge exactly alike: a cluster holding less
than `min_share` of users goes into the cluster with the nearest centre.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def check_one_of(name: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")


def check_positive_int(name: str, value) -> None:
    if not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_min_share(min_share) -> None:
    if not 0 <= min_share < 0.5:
        raise ValueError(f"min_share must be within [0, 0.5), got {min_share!r}")


def cluster_sums(labels: np.ndarray, X: np.ndarray, n_raw: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, sum of the rows) per cluster id 0..n_raw-1."""
    counts = np.bincount(labels, minlength=n_raw)
    sums = np.zeros((n_raw, X.shape[1]))
    np.add.at(sums, labels, X)
    return counts, sums


def merge_small_stats(counts: np.ndarray, sums: np.ndarray, min_share: float):
    """Map raw cluster ids onto final ids, merging clusters below min_share into the nearest one.

    Returns (label_map, merges) where label_map[raw] = final id in 0..k'-1 and each merge
    names the raw clusters (`merged` into `into`).
    """
    n_raw = counts.size
    counts, sums = counts.astype(float).copy(), sums.astype(float).copy()
    groups = {i: [i] for i in range(n_raw)}
    merges = []
    total = counts.sum()
    while len(groups) > 1:
        alive = [g for g in groups if counts[g] > 0] or list(groups)
        smallest = min(groups, key=lambda g: (counts[g], g))
        if counts[smallest] >= min_share * total and smallest in alive:
            break
        others = [g for g in groups if g != smallest]
        if counts[smallest] == 0:
            target = others[0]
        else:
            centre = sums[smallest] / counts[smallest]
            dist = [np.sum((sums[g] / max(counts[g], 1) - centre) ** 2) for g in others]
            target = others[int(np.argmin(dist))]
        merges.append(
            {
                "merged": int(smallest),
                "into": int(target),
                "share": float(counts[smallest] / total) if total else 0.0,
            }
        )
        groups[target] += groups.pop(smallest)
        counts[target] += counts[smallest]
        sums[target] += sums[smallest]
    label_map = np.empty(n_raw, dtype=np.int64)
    for final, key in enumerate(sorted(groups)):
        label_map[groups[key]] = final
    return label_map, merges


@dataclass(frozen=True)
class Merged:
    """The final segments: raw id -> final id, the merges, and rows and sums per segment."""

    label_map: np.ndarray
    # Raw cluster ids vanish in a merge; each record names the final segment that absorbed one.
    merges: list[dict]
    counts: np.ndarray
    sums: np.ndarray

    @property
    def n_clusters(self) -> int:
        return int(self.label_map.max()) + 1

    @property
    def centers(self) -> np.ndarray:
        return self.sums / np.maximum(self.counts, 1)[:, None]


def merge_clusters(counts: np.ndarray, sums: np.ndarray, min_share: float) -> Merged:
    """merge_small_stats, with the statistics of the merged segments."""
    label_map, merges = merge_small_stats(counts, sums, min_share)
    k = int(label_map.max()) + 1
    final_sums = np.zeros((k, sums.shape[1]))
    np.add.at(final_sums, label_map, sums)
    return Merged(
        label_map,
        [
            {"raw_cluster": m["merged"], "into": int(label_map[m["into"]]), "share": m["share"]}
            for m in merges
        ],
        np.bincount(label_map, weights=counts, minlength=k),
        final_sums,
    )
