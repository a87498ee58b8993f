"""Model selection: sweep algorithms and k, score them, pick by a documented rule.

Rule (also written into selection.json and the report):
  1. Drop candidates whose smallest segment holds less than `min_share` of users.
  2. Pick the highest silhouette (same sample for every candidate).
  3. Within 0.01 of the best silhouette, prefer the lower Davies-Bouldin index,
     then the smaller k, then the simpler algorithm (k-means, GMM, Ward).
The k-means elbow (knee of inertia, Kneedle) and the BIC-best mixture are
reported beside the winner as cross-checks; the analyst can override both
algorithm and k in `segment train`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state

from segmentation.errors import InputError, SegmentationError
from segmentation.models import nearest

RULE = (
    __doc__.split("Rule (also written into selection.json and the report):\n")[1]
    .split("\nThe k-means")[0]
    .strip()
)
SIMPLICITY = {"kmeans": 0, "gmm": 1, "ward": 2}
ALGORITHMS = ("kmeans", "gmm", "ward")  # what `sweep` fits; anything else it would skip


@dataclass
class Candidate:
    algorithm: str
    k: int
    covariance_type: str | None = None
    inertia: float | None = None
    silhouette: float | None = None
    calinski_harabasz: float | None = None
    davies_bouldin: float | None = None
    bic: float | None = None
    aic: float | None = None
    min_share: float | None = None


def knee(ks: list[int], values: list[float]) -> int | None:
    """Kneedle for a decreasing convex curve: the k farthest below the chord."""
    if len(ks) < 3:
        return None
    x = (np.asarray(ks, float) - ks[0]) / (ks[-1] - ks[0])
    y = np.asarray(values, float)
    span = y.max() - y.min()
    if span <= 0:
        return None
    y = (y - y.min()) / span
    diff = (1 - x) - y  # chord from (0, 1) to (1, 0) minus the normalised curve
    best = int(np.argmax(diff))
    return ks[best] if diff[best] > 0.05 else None


def check_selectable(rows: int, path: str) -> None:
    if rows < 3:
        raise InputError(f"{rows} user(s): model selection needs at least 3", path)


def score_labels(X: np.ndarray, labels: np.ndarray, sil_idx: np.ndarray) -> dict[str, float | None]:
    """Silhouette (on the rows `sil_idx`), Calinski-Harabasz and Davies-Bouldin of a labelling;
    None where a score is undefined (one cluster, or one row per cluster in the sample)."""
    if np.unique(labels).size < 2:
        return {"silhouette": None, "calinski_harabasz": None, "davies_bouldin": None}
    sil_labels = labels[sil_idx]
    silhouette = (
        float(silhouette_score(X[sil_idx], sil_labels))
        if 1 < np.unique(sil_labels).size < sil_idx.size
        else None
    )
    return {
        "silhouette": silhouette,
        "calinski_harabasz": float(calinski_harabasz_score(X, labels)),
        "davies_bouldin": float(davies_bouldin_score(X, labels)),
    }


def _min_share(labels: np.ndarray, k: int) -> float:
    return float(np.bincount(labels, minlength=k).min() / labels.size)


def sweep(
    X: np.ndarray,
    k_values: range = range(2, 13),
    covariance_types: tuple[str, ...] = ("full", "diag"),
    algorithms: tuple[str, ...] = ALGORITHMS,
    silhouette_sample: int = 10_000,
    hierarchical_sample: int = 5_000,
    random_state: int = 0,
    on_candidate: Callable[[Candidate], None] | None = None,
) -> list[Candidate]:
    """Fit every candidate on X (already a sample for large data) and score it;
    `on_candidate` is called after each (progress)."""
    rng = check_random_state(random_state)
    n = X.shape[0]
    ks = [k for k in k_values if 2 <= k < n]
    if not ks:
        raise SegmentationError(f"need at least 3 distinct users to compare segmentations, got {n}")
    sil_idx = rng.choice(n, min(n, silhouette_sample), replace=False)
    out: list[Candidate] = []

    def add(candidate: Candidate) -> None:
        out.append(candidate)
        if on_candidate:
            on_candidate(candidate)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on tiny or degenerate data
        if "kmeans" in algorithms:
            for k in ks:
                km = KMeans(n_clusters=k, n_init=3, random_state=random_state).fit(X)
                add(
                    Candidate(
                        "kmeans",
                        k,
                        inertia=float(km.inertia_),
                        min_share=_min_share(km.labels_, k),
                        **score_labels(X, km.labels_, sil_idx),
                    )
                )
        if "gmm" in algorithms:
            for cov in covariance_types:
                for k in ks:
                    gm = GaussianMixture(
                        k, covariance_type=cov, reg_covar=1e-4, random_state=random_state
                    ).fit(X)
                    labels = gm.predict(X)
                    add(
                        Candidate(
                            "gmm",
                            k,
                            cov,
                            bic=float(gm.bic(X)),
                            aic=float(gm.aic(X)),
                            min_share=_min_share(labels, k),
                            **score_labels(X, labels, sil_idx),
                        )
                    )
        if "ward" in algorithms:
            for candidate in _ward_candidates(X, ks, hierarchical_sample, sil_idx, rng):
                add(candidate)
    return out


def _ward_candidates(X, ks, sample, sil_idx, rng) -> list[Candidate]:
    """One Ward tree on a sample, cut at every k; other rows go to the nearest centre."""
    from scipy.cluster.hierarchy import fcluster, linkage

    idx = rng.choice(X.shape[0], min(sample, X.shape[0]), replace=False)
    tree = linkage(X[idx], method="ward")
    out = []
    for k in ks:
        cut = fcluster(tree, t=k, criterion="maxclust") - 1
        centers = np.vstack([X[idx][cut == c].mean(axis=0) for c in np.unique(cut)])
        labels = nearest(X, centers)
        out.append(
            Candidate(
                "ward",
                k,
                min_share=_min_share(labels, centers.shape[0]),
                **score_labels(X, labels, sil_idx),
            )
        )
    return out


def choose(candidates: list[Candidate], min_share: float = 0.02) -> Candidate:
    eligible = [
        c for c in candidates if c.silhouette is not None and (c.min_share or 0) >= min_share
    ]
    if not eligible:
        raise SegmentationError(
            "no candidate segmentation has a silhouette score and segments of at least "
            f"{min_share:.0%}: the data may be too small or all users identical"
        )
    best = max(c.silhouette for c in eligible)
    close = [c for c in eligible if c.silhouette >= best - 0.01]
    return min(
        close, key=lambda c: (round(c.davies_bouldin or 0, 2), c.k, SIMPLICITY.get(c.algorithm, 9))
    )


def summarize(
    candidates: list[Candidate],
    chosen: Candidate,
    sample_rows: int,
    silhouette_sample: int,
    hierarchical_sample: int = 5_000,
) -> dict:
    km = sorted((c for c in candidates if c.algorithm == "kmeans"), key=lambda c: c.k)
    gmm = [c for c in candidates if c.algorithm == "gmm" and c.bic is not None]
    bic_best = min(gmm, key=lambda c: c.bic) if gmm else None
    return {
        "rule": RULE,
        "chosen": {
            "algorithm": chosen.algorithm,
            "k": chosen.k,
            "covariance_type": chosen.covariance_type,
        },
        "knee_k": knee([c.k for c in km], [c.inertia for c in km]) if km else None,
        "bic_best": (
            {"k": bic_best.k, "covariance_type": bic_best.covariance_type} if bic_best else None
        ),
        "sample_rows": sample_rows,
        "hierarchical_note": (
            f"Ward candidates: one tree on a sample of at most {hierarchical_sample:,} users, "
            "the other users assigned to the nearest cluster centre."
            if any(c.algorithm == "ward" for c in candidates)
            else None
        ),
        "silhouette_sample": silhouette_sample,
        "candidates": [asdict(c) for c in candidates],
    }
