"""Clustering estimators for segments, following scikit-learn's estimator contract.

`SegmentModel` wraps k-means, mini-batch k-means, Gaussian mixtures and Ward
clustering behind one interface and adds the over-segmentation guard: a
cluster holding less than `min_share` of users is merged into its nearest
neighbour, and `merges_` records it.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import AgglomerativeClustering, KMeans, MiniBatchKMeans
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

ALGORITHMS = ("kmeans", "minibatch_kmeans", "gmm", "ward")
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _check_params(algorithm, n_clusters, covariance_type, min_share, max_hierarchical_samples):
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}")
    if not isinstance(n_clusters, int | np.integer) or n_clusters < 1:
        raise ValueError(f"n_clusters must be a positive integer, got {n_clusters!r}")
    if covariance_type not in COVARIANCE_TYPES:
        raise ValueError(
            f"covariance_type must be one of {', '.join(COVARIANCE_TYPES)}, got {covariance_type!r}"
        )
    if not 0 <= min_share < 0.5:
        raise ValueError(f"min_share must be within [0, 0.5), got {min_share!r}")
    if max_hierarchical_samples < 2:
        raise ValueError(
            f"max_hierarchical_samples must be at least 2, got {max_hierarchical_samples}"
        )


def nearest(X: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest center per row (squared Euclidean), in memory-bounded chunks."""
    out = np.empty(X.shape[0], dtype=np.int64)
    c2 = (centers**2).sum(axis=1)
    for start in range(0, X.shape[0], 65536):
        chunk = X[start : start + 65536]
        out[start : start + 65536] = np.argmin(c2 - 2 * chunk @ centers.T, axis=1)
    return out


def merge_small(labels: np.ndarray, X: np.ndarray, n_raw: int, min_share: float):
    """Map raw cluster ids onto final ids, merging clusters below min_share into the nearest one.

    Returns (label_map, merges) where label_map[raw] = final id in 0..k'-1.
    """
    counts = np.bincount(labels, minlength=n_raw)
    sums = np.zeros((n_raw, X.shape[1]))
    np.add.at(sums, labels, X)
    return merge_small_stats(counts, sums, min_share)


def merge_small_stats(counts: np.ndarray, sums: np.ndarray, min_share: float):
    """merge_small on per-cluster counts and feature sums (what Spark aggregates)."""
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


SMALL_SAMPLE = 100_000


class SegmentModel(ClusterMixin, BaseEstimator):
    """Segments users; `predict` assigns new users to the fitted segments.

    Ward clustering is quadratic in memory, so it is fitted on at most
    `max_hierarchical_samples` rows and every other row goes to the nearest
    cluster centre (`fitted_on_sample_` says when that happened).

    `n_init` (k-means starts) defaults to 10 up to 100,000 users and 3 above: on small
    samples a few starts can settle in a local optimum that merges two personas (seen at
    1,500 users), while at a million users 3 starts agree and each costs seconds.
    """

    def __init__(
        self,
        algorithm: str = "kmeans",
        n_clusters: int = 8,
        covariance_type: str = "full",
        min_share: float = 0.02,
        max_hierarchical_samples: int = 5000,
        n_init: int | None = None,
        random_state=None,
    ) -> None:
        self.algorithm = algorithm
        self.n_clusters = n_clusters
        self.covariance_type = covariance_type
        self.min_share = min_share
        self.max_hierarchical_samples = max_hierarchical_samples
        self.n_init = n_init
        self.random_state = random_state

    def _fit_raw(self, X: np.ndarray, rng) -> np.ndarray:
        seed = rng.randint(np.iinfo(np.int32).max)
        k = min(self.n_clusters, X.shape[0])
        n_init = self.n_init or (10 if X.shape[0] <= SMALL_SAMPLE else 3)
        self.fitted_on_sample_ = False
        if self.algorithm == "kmeans":
            est = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(X)
            self.raw_centers_ = est.cluster_centers_
            return est.labels_
        if self.algorithm == "minibatch_kmeans":
            est = MiniBatchKMeans(
                n_clusters=k, n_init=n_init, batch_size=4096, random_state=seed
            ).fit(X)
            self.raw_centers_ = est.cluster_centers_
            return nearest(X, est.cluster_centers_)
        if self.algorithm == "gmm":
            est = GaussianMixture(
                n_components=k,
                covariance_type=self.covariance_type,
                n_init=1,
                reg_covar=1e-4,
                random_state=seed,
            ).fit(X)
            self.mixture_ = est
            self.raw_centers_ = est.means_
            return est.predict(X)
        # ward
        if X.shape[0] > self.max_hierarchical_samples:
            idx = rng.choice(X.shape[0], self.max_hierarchical_samples, replace=False)
            self.fitted_on_sample_ = True
        else:
            idx = np.arange(X.shape[0])
        sample_labels = AgglomerativeClustering(
            n_clusters=min(k, idx.size), linkage="ward"
        ).fit_predict(X[idx])
        centers = np.vstack(
            [X[idx][sample_labels == c].mean(axis=0) for c in range(sample_labels.max() + 1)]
        )
        self.raw_centers_ = centers
        return nearest(X, centers)

    def fit(self, X, y=None):
        _check_params(
            self.algorithm,
            self.n_clusters,
            self.covariance_type,
            self.min_share,
            self.max_hierarchical_samples,
        )
        X = self._validate_data(X, dtype=np.float64)
        rng = check_random_state(self.random_state)
        raw = self._fit_raw(X, rng)
        n_raw = self.raw_centers_.shape[0]
        self.label_map_, merges = merge_small(raw, X, n_raw, self.min_share)
        # Raw cluster ids vanish in a merge; record which final segment absorbed each one.
        self.merges_ = [
            {
                "raw_cluster": m["merged"],
                "into": int(self.label_map_[m["into"]]),
                "share": m["share"],
            }
            for m in merges
        ]
        self.labels_ = self.label_map_[raw]
        k = int(self.label_map_.max()) + 1
        self.n_clusters_ = k
        counts = np.bincount(self.labels_, minlength=k)
        sums = np.zeros((k, X.shape[1]))
        np.add.at(sums, self.labels_, X)
        self.cluster_centers_ = sums / np.maximum(counts, 1)[:, None]
        return self

    def predict(self, X):
        check_is_fitted(self, ["labels_", "label_map_"])
        X = self._validate_data(X, dtype=np.float64, reset=False)
        if self.algorithm == "gmm":
            return self.label_map_[self.mixture_.predict(X)]
        return self.label_map_[nearest(X, self.raw_centers_)]
