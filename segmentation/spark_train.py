"""`segment train|select --engine spark`: segmentation/train.py and selection.py on Spark.

Same input (the features table) and the same output files as the scikit-learn
engine (model.json, assignments.csv, assigner.json, preprocess.joblib,
model.joblib), so `segment publish` and `segment report` read either. Rows stay
in Spark; the driver sees per-segment aggregates only, and the assignments
are written by Spark as one CSV file (the model directory must therefore be on
storage the executors can write to: any path in local mode, a shared mount on
a cluster).

Scores: the silhouette is MLlib's ClusteringEvaluator (squared Euclidean
distances; on about SILHOUETTE_SAMPLE users as train.py; it runs higher than
scikit-learn's Euclidean silhouette, so compare scores within one engine);
Calinski-Harabasz and Davies-Bouldin are exact, from per-cluster sums and one
pass over the rows; a mixture's BIC and AIC come from its log-likelihood on the
selection sample.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from segmentation.assign import model_spec
from segmentation.errors import InputError, SegmentationError
from segmentation.features import NUMERIC_COLUMNS
from segmentation.preprocess import LOG_COLUMNS, compile_preprocessor, feature_names
from segmentation.selection import Candidate
from segmentation.spark_engine import FEATURES, SparkPreprocessor, read_features, spark_path
from segmentation.spark_models import (
    SparkSegmentModel,
    cluster_stats,
    fit_raw,
    log_likelihood,
    raw_labels,
    with_array,
)
from segmentation.train import SILHOUETTE_SAMPLE, describe_segments, model_meta

DISTINCT_SAMPLE = 50_000  # rows checked for "fewer distinct users than k", as train.py


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


def _check_trainable(X, pre: SparkPreprocessor, rows: int, k: int, path: str) -> None:
    """train._check_trainable's checks and messages."""
    from pyspark.sql import functions as F

    if rows < 2:
        raise InputError(f"{rows} user(s): at least 2 are needed to form segments", path)
    if pre.all_identical():
        raise InputError("all users have identical features: there is nothing to segment", path)
    sample = X if rows <= DISTINCT_SAMPLE else X.sample(DISTINCT_SAMPLE / rows, seed=0)
    distinct = (
        with_array(sample)
        .select(F.transform("_x", lambda v: F.round(v, 9)).alias("_r"))
        .distinct()
        .limit(k)
        .count()
    )
    if distinct < k:
        raise InputError(
            f"only {distinct} distinct users for k={k}; lower --k to at most {distinct}", path
        )


def _segment_aggregates(labeled, column: str, k: int):
    """(profile, spread, z, counts) as train.py computes them with pandas, from sums per label."""
    from pyspark.sql import functions as F

    spaces = {}
    for c in NUMERIC_COLUMNS:
        value = F.col(c)
        spaces[("raw", c)] = value
        spaces[("log", c)] = F.log1p(F.greatest(value, F.lit(0.0))) if c in LOG_COLUMNS else value
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
    return profile, std[log_idx], z, counts


def _write_assignments(frame, out_dir: Path) -> None:
    """Spark writes the one assignments.csv (user_id, segment, persona) itself."""
    tmp = out_dir / ".assignments.spark"
    shutil.rmtree(tmp, ignore_errors=True)
    # repartition, not coalesce: the rows are computed in parallel, then written by one task
    # escape='"': quotes inside a value are doubled, as pandas writes and reads them
    frame.repartition(1).write.csv(spark_path(tmp), header=True, escape='"', mode="overwrite")
    parts = sorted(tmp.glob("part-*.csv"))
    if len(parts) != 1:
        raise SegmentationError(f"Spark wrote {len(parts)} assignment files to {tmp}, expected 1")
    parts[0].replace(out_dir / "assignments.csv")
    shutil.rmtree(tmp, ignore_errors=True)


def _moved(spark, previous_dir: str | None, current_csv: Path) -> dict | None:
    """train.moved on Spark: users whose segment changed since the previous version."""
    from pyspark.sql import functions as F

    prev_csv = Path(previous_dir, "assignments.csv") if previous_dir else None
    if prev_csv is None or not prev_csv.exists():
        return None

    def read(p: Path):
        frame = spark.read.csv(spark_path(p), header=True, escape='"')
        return frame.select("user_id", "segment")

    both = read(current_csv).join(
        read(prev_csv).withColumnRenamed("segment", "segment_prev"), "user_id"
    )
    changed = both.where(F.col("segment") != F.col("segment_prev"))
    compared = both.count()
    top = (
        changed.groupBy("segment_prev", "segment")
        .count()
        .orderBy(F.desc("count"), "segment_prev", "segment")
        .limit(20)
        .collect()
    )
    return {
        "compared_users": int(compared),
        "moved_users": int(changed.count()),
        "transitions": [
            {"from": r["segment_prev"], "to": r["segment"], "users": int(r["count"])} for r in top
        ],
    }


def train_spark(
    spark,
    path: str,
    out_dir: str | Path,
    algorithm: str,
    k: int,
    min_share: float = 0.02,
    previous: dict | None = None,
    previous_dir: str | None = None,
    labels_override: dict[str, str] | None = None,
    random_state: int = 0,
) -> dict:
    """Train on Spark and write the model directory; returns model.json's contents."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    table = read_features(spark, path)
    source = table.frame.persist(StorageLevel.MEMORY_AND_DISK)  # read the file once
    try:
        pre = SparkPreprocessor().fit(source)
        prepared = pre.transform(source)
        # Not cached: MLlib caches its own deserialized vectors while it iterates (much faster
        # than re-reading cached rows), and the other passes recompute them from `source`.
        X = prepared.select(FEATURES)
        _check_trainable(X, pre, table.rows, k, path)
        model = SparkSegmentModel(algorithm, k, min_share=min_share, random_state=random_state)
        model.fit(X)
        labeled = model.predict(X)
        fit_scores = scores(labeled, "segment_index", model.counts_, model.sums_, model.sq_norms_)
        everything = model.predict(prepared)  # with the raw feature columns
        profile, spread, z, counts = _segment_aggregates(
            everything, "segment_index", model.n_clusters_
        )
        ids, personas, seg_meta = describe_segments(
            profile, spread, z, counts, previous, labels_override
        )
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        pick = lambda values: F.element_at(  # noqa: E731
            F.array(*map(F.lit, values)), F.col("segment_index") + 1
        )
        _write_assignments(
            everything.select(
                "user_id",
                pick(ids).alias("segment"),
                pick([personas[i] for i in ids]).alias("persona"),
            ),
            out_dir,
        )
    finally:
        source.unpersist()
    fit_scores["silhouette_sample"] = min(table.rows, SILHOUETTE_SAMPLE)  # about: Spark samples
    fit_scores["silhouette_distance"] = "squared_euclidean"
    pipeline = pre.to_sklearn()
    meta = model_meta(
        algorithm,
        {
            "n_clusters": k,
            "covariance_type": "full" if algorithm == "gmm" else None,
            "min_share": min_share,
            "random_state": random_state,
        },
        fit_scores,
        feature_names(pipeline),
        table.fingerprint,
        table.rows,
        seg_meta,
        [
            {
                "merged": f"cluster {m['raw_cluster']} (under {min_share:.0%})",
                "into": ids[m["into"]],
                "share": round(m["share"], 4),
            }
            for m in model.merges_
        ],
        previous,
    )
    meta["engine"] = {
        "name": "spark",
        "version": spark.version,
        "master": spark.sparkContext.master,
    }
    meta["moved"] = _moved(spark, previous_dir, out_dir / "assignments.csv")
    spec = {
        "preprocess": compile_preprocessor(pipeline),
        "model": model_spec(model),
        "segments": ids,
        "personas": personas,
    }
    joblib.dump(pipeline, out_dir / "preprocess.joblib")
    joblib.dump(model, out_dir / "model.joblib")
    (out_dir / "assigner.json").write_text(json.dumps(spec))
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2))  # last: marks it complete
    return meta


def sweep_spark(
    spark,
    path: str,
    k_values: range,
    algorithms: tuple[str, ...],
    sample: int = 50_000,
    silhouette_sample: int = SILHOUETTE_SAMPLE,
    random_state: int = 0,
) -> tuple[list[Candidate], int]:
    """selection.sweep on Spark, on a sample of about `sample` users: (candidates, rows)."""
    from pyspark import StorageLevel

    table = read_features(spark, path)
    frame = table.frame
    if table.rows > sample:
        frame = frame.sample(sample / table.rows, seed=random_state)
    pre = SparkPreprocessor().fit(frame)
    X = pre.transform(frame).select(FEATURES).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        rows = X.count()
        if rows < 3:
            raise InputError(f"{rows} user(s): model selection needs at least 3", path)
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
    finally:
        X.unpersist()
    return out, rows
