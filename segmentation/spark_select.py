"""`segment select --engine spark`: selection.sweep's candidates, fitted and scored on Spark.

On a sample of about `sample` users, as the scikit-learn engine; a mixture's
BIC and AIC come from its log-likelihood on that sample. `selection.choose`
and `selection.summarize` then pick and report as for scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from segmentation.segments import SILHOUETTE_SAMPLE
from segmentation.selection import Candidate, check_selectable
from segmentation.spark_features import FEATURES, SparkPreprocessor, read_features
from segmentation.spark_models import cluster_stats, fit_raw, log_likelihood, raw_labels
from segmentation.spark_scores import scores


def sweep_spark(
    spark,
    path: str,
    k_values: range,
    algorithms: tuple[str, ...],
    sample: int = 50_000,
    silhouette_sample: int = SILHOUETTE_SAMPLE,
    random_state: int = 0,
    on_candidate: Callable[[Candidate], None] | None = None,
) -> tuple[list[Candidate], int]:
    """selection.sweep on Spark, on a sample of about `sample` users: (candidates, rows);
    `on_candidate` is called after each (progress)."""
    from pyspark import StorageLevel

    table = read_features(spark, path)
    frame = table.frame
    if table.rows > sample:
        frame = frame.sample(sample / table.rows, seed=random_state)
    pre = SparkPreprocessor().fit(frame)
    X = pre.transform(frame).select(FEATURES).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        rows = X.count()
        check_selectable(rows, path)
        ks = [k for k in k_values if 2 <= k < rows]
        out, kmeans = [], {}
        for algorithm in sorted(algorithms, key=lambda a: a != "kmeans"):  # k-means seeds GMMs
            for k in ks:
                n_init = 1 if algorithm == "bisecting_kmeans" else 3  # GMM: its k-means start
                fit = fit_raw(X, algorithm, k, random_state, n_init, init=kmeans.get(k))
                if algorithm == "kmeans":
                    kmeans[k] = fit
                labeled = raw_labels(X, fit)
                n_raw = fit.centers.shape[0]
                counts, sums, sq = cluster_stats(labeled, "_raw", n_raw)
                fit_scores = scores(labeled, "_raw", counts, sums, sq, silhouette_sample)
                candidate = Candidate(
                    algorithm,
                    k,
                    "full" if algorithm == "gmm" else None,
                    inertia=fit.cost if algorithm == "kmeans" else None,
                    min_share=float(counts.min() / rows) if n_raw == k else 0.0,
                    **fit_scores,
                )
                if fit.mixture is not None:
                    total = log_likelihood(X, fit.mixture)
                    d = fit.centers.shape[1]
                    params = (k - 1) + k * d + k * d * (d + 1) / 2
                    candidate.bic = float(-2 * total + params * np.log(rows))
                    candidate.aic = float(-2 * total + 2 * params)
                out.append(candidate)
                if on_candidate:
                    on_candidate(candidate)
    finally:
        X.unpersist()
    return out, rows
