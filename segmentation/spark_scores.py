"""The numbers a Spark fit is judged and described by, from per-cluster sums and one pass.

Scores: the silhouette is MLlib's ClusteringEvaluator (squared Euclidean
distances, on about `silhouette_sample` users; it runs higher than
scikit-learn's Euclidean silhouette, so compare scores within one engine);
Calinski-Harabasz and Davies-Bouldin are exact, from per-cluster sums and one
pass over the rows. The segment aggregates are those train.py computes with
pandas, from sums per label, so only k rows reach the driver.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segmentation.features import NUMERIC_COLUMNS
from segmentation.preprocess import LOG_COLUMNS
from segmentation.segments import SILHOUETTE_SAMPLE, SegmentStats
from segmentation.spark_features import FEATURES, spark_log1p
from segmentation.spark_models import with_array


def scores(
    labeled,
    column: str,
    counts: np.ndarray,
    sums: np.ndarray,
    sq: np.ndarray,
    silhouette_sample: int = SILHOUETTE_SAMPLE,
) -> dict:
    """Silhouette (MLlib, squared Euclidean; on about `silhouette_sample` rows, as train.py),
    Calinski-Harabasz and Davies-Bouldin (all rows)."""
    from pyspark.ml.evaluation import ClusteringEvaluator
    from pyspark.sql import functions as F

    present = np.flatnonzero(counts > 0)
    if present.size < 2:
        return {"silhouette": None, "calinski_harabasz": None, "davies_bouldin": None}
    n, k = counts.sum(), present.size
    centers = sums / np.maximum(counts, 1)[:, None]
    overall = sums.sum(axis=0) / n
    within = float(sum(sq[i] - counts[i] * centers[i] @ centers[i] for i in present))
    between = float(sum(counts[i] * np.sum((centers[i] - overall) ** 2) for i in present))
    ch = 1.0 if within <= 0 else between * (n - k) / (within * (k - 1))

    center_of = F.element_at(
        F.array(*[F.array(*[F.lit(float(v)) for v in c]) for c in centers]), F.col(column) + 1
    )
    x, c = F.col("_x"), F.col("_c")
    distance = F.sqrt(
        sum(((x[j] - c[j]) * (x[j] - c[j]) for j in range(centers.shape[1])), F.lit(0.0))
    )
    rows = (
        with_array(labeled)
        .withColumn("_c", center_of)
        .groupBy(column)
        .agg(F.avg(distance).alias("s"))
        .collect()
    )
    intra = np.zeros(counts.size)
    for row in rows:
        intra[row[column]] = row["s"]
    intra, cent = intra[present], centers[present]
    gaps = np.sqrt(((cent[:, None, :] - cent[None, :, :]) ** 2).sum(axis=2))
    if np.allclose(intra, 0) or np.allclose(gaps, 0):
        db = 0.0
    else:
        gaps[gaps == 0] = np.inf
        db = float(np.mean(np.max((intra[:, None] + intra[None, :]) / gaps, axis=1)))
    fraction = silhouette_sample / n
    sample = labeled.sample(fraction, seed=0) if fraction < 1 else labeled
    silhouette = ClusteringEvaluator(
        featuresCol=FEATURES,
        predictionCol=column,
        metricName="silhouette",
        distanceMeasure="squaredEuclidean",
    ).evaluate(sample)
    return {"silhouette": float(silhouette), "calinski_harabasz": float(ch), "davies_bouldin": db}


def segment_aggregates(labeled, column: str, k: int) -> SegmentStats:
    """The SegmentStats train.py computes with pandas, from sums per label."""
    from pyspark.sql import functions as F

    spaces = {}
    for c in NUMERIC_COLUMNS:
        value = F.col(c)
        spaces[("raw", c)] = value
        spaces[("log", c)] = spark_log1p(value) if c in LOG_COLUMNS else value
    aggs = [F.count(F.lit(1)).alias("rows")]
    for i, v in enumerate(spaces.values()):
        aggs += [F.count(v).alias(f"n{i}"), F.sum(v).alias(f"s{i}"), F.sum(v * v).alias(f"q{i}")]
    rows = labeled.groupBy(column).agg(*aggs).collect()
    shape = (k, len(spaces))
    n, s, q, counts = np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(k)
    for row in rows:
        label = row[column]
        counts[label] = row["rows"]
        for i in range(len(spaces)):
            n[label, i] = row[f"n{i}"]
            s[label, i] = row[f"s{i}"] or 0.0
            q[label, i] = row[f"q{i}"] or 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        group_mean = s / n  # NaN where a label has no value: pandas' mean skips NaN alike
        total_n = n.sum(axis=0)
        mean = s.sum(axis=0) / total_n
        std = np.sqrt(np.maximum(q.sum(axis=0) / total_n - mean**2, 0))
    keys = list(spaces)
    raw_idx = [keys.index(("raw", c)) for c in NUMERIC_COLUMNS]
    log_idx = [keys.index(("log", c)) for c in NUMERIC_COLUMNS]
    profile = pd.DataFrame(group_mean[:, log_idx], columns=NUMERIC_COLUMNS)
    raw_std = np.where(std[raw_idx] == 0, 1.0, std[raw_idx])
    z = pd.DataFrame((group_mean[:, raw_idx] - mean[raw_idx]) / raw_std, columns=NUMERIC_COLUMNS)
    return SegmentStats(profile, std[log_idx], z, counts)
