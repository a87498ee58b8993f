"""Clustering estimators for segments, following scikit-learn's estimator contract.

`SegmentModel` wraps k-means, mini-batch k-means, Gaussian mixtures and Ward
clustering behind one interface and adds the over-segmentation guard: a
cluster holding less than `min_share` of users is merged into its nearest
neighbour (segmentation/clusters.py, shared with the Spark engine), and
`merges_` records it.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import AgglomerativeClustering, KMeans, MiniBatchKMeans
from sklearn.mixture import GaussianMixture
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from segmentation.clusters import (
    check_min_share,
    check_one_of,
    check_positive_int,
    cluster_sums,
    merge_clusters,
)

ALGORITHMS = ("kmeans", "minibatch_kmeans", "gmm", "ward")
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def _check_params(algorithm, n_clusters, covariance_type, min_share, max_hierarchical_samples):
    check_one_of("algorithm", algorithm, ALGORITHMS)
    check_positive_int("n_clusters", n_clusters)
    check_one_of("covariance_type", covariance_type, COVARIANCE_TYPES)
    check_min_share(min_share)
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
        counts, sums = cluster_sums(raw, X, self.raw_centers_.shape[0])
        merged = merge_clusters(counts, sums, self.min_share)
        self.label_map_, self.merges_ = merged.label_map, merged.merges
        self.labels_ = self.label_map_[raw]
        self.n_clusters_ = merged.n_clusters
        self.cluster_centers_ = merged.centers
        return self

    def predict(self, X):
        check_is_fitted(self, ["labels_", "label_map_"])
        X = self._validate_data(X, dtype=np.float64, reset=False)
        if self.algorithm == "gmm":
            return self.label_map_[self.mixture_.predict(X)]
        return self.label_map_[nearest(X, self.raw_centers_)]
