"""`segment train --engine spark`: segmentation/train.py on Spark, into the same model directory.

Same input (the features table) and the same output files as the scikit-learn
engine (segmentation/model_dir.py), so `segment publish` and `segment report`
read either. Rows stay in Spark; the driver sees per-segment aggregates only,
and the assignments are written by Spark as one CSV file (the model directory
must therefore be on storage the executors can write to: any path in local
mode, a shared mount on a cluster). Scores: segmentation/spark_scores.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from segmentation.errors import SegmentationError
from segmentation.model_dir import ASSIGNMENTS, PreviousModel, write_model_dir
from segmentation.segments import (
    DISTINCT_SAMPLE,
    SILHOUETTE_SAMPLE,
    Fitted,
    check_trainable,
    describe,
    params,
)
from segmentation.spark_features import FEATURES, SparkPreprocessor, read_features, spark_path
from segmentation.spark_models import SparkSegmentModel, lookup, with_array
from segmentation.spark_scores import scores, segment_aggregates


def _distinct(X, rows: int, k: int) -> int:
    """Distinct feature vectors among DISTINCT_SAMPLE rows, counted up to k."""
    from pyspark.sql import functions as F

    sample = X if rows <= DISTINCT_SAMPLE else X.sample(DISTINCT_SAMPLE / rows, seed=0)
    return (
        with_array(sample)
        .select(F.transform("_x", lambda v: F.round(v, 9)).alias("_r"))
        .distinct()
        .limit(k)
        .count()
    )


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
    parts[0].replace(out_dir / ASSIGNMENTS)
    shutil.rmtree(tmp, ignore_errors=True)


def _moved(spark, previous: PreviousModel | None, current_csv: Path) -> dict | None:
    """train.moved on Spark: users whose segment changed since the previous version."""
    from pyspark.sql import functions as F

    if previous is None:
        return None

    def read(p: Path):
        frame = spark.read.csv(spark_path(p), header=True, escape='"')
        return frame.select("user_id", "segment")

    both = read(current_csv).join(
        read(previous.path / ASSIGNMENTS).withColumnRenamed("segment", "segment_prev"), "user_id"
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
    previous: PreviousModel | None = None,
    labels_override: dict[str, str] | None = None,
    random_state: int = 0,
) -> dict:
    """Train on Spark and write the model directory; returns model.json's contents."""
    from pyspark import StorageLevel

    table = read_features(spark, path)
    source = table.frame.persist(StorageLevel.MEMORY_AND_DISK)  # read the file once
    try:
        pre = SparkPreprocessor().fit(source)
        prepared = pre.transform(source)
        # Not cached: MLlib caches its own deserialized vectors while it iterates (much faster
        # than re-reading cached rows), and the other passes recompute them from `source`.
        X = prepared.select(FEATURES)
        check_trainable(table.rows, k, path, pre.all_identical, lambda: _distinct(X, table.rows, k))
        model = SparkSegmentModel(algorithm, k, min_share=min_share, random_state=random_state)
        model.fit(X)
        labeled = model.predict(X)
        fit_scores = scores(labeled, "segment_index", model.counts_, model.sums_, model.sq_norms_)
        fit_scores["silhouette_sample"] = min(table.rows, SILHOUETTE_SAMPLE)  # about: Spark samples
        fit_scores["silhouette_distance"] = "squared_euclidean"
        everything = model.predict(prepared)  # with the raw feature columns
        pipeline = pre.to_sklearn()
        fitted = Fitted(
            algorithm,
            params(algorithm, k, "full", min_share, random_state),
            model,
            pipeline,
            fit_scores,
            segment_aggregates(everything, "segment_index", model.n_clusters_),
            table.rows,
            table.fingerprint,
        )
        described = describe(fitted, previous.meta if previous else None, labels_override)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        ids = described.ids
        _write_assignments(
            everything.select(
                "user_id",
                lookup("segment_index", ids).alias("segment"),
                lookup("segment_index", [described.personas[i] for i in ids]).alias("persona"),
            ),
            out_dir,
        )
    finally:
        source.unpersist()
    meta = {
        **described.meta,
        "engine": {"name": "spark", "version": spark.version, "master": spark.sparkContext.master},
        "moved": _moved(spark, previous, out_dir / ASSIGNMENTS),
    }
    write_model_dir(out_dir, meta, described.spec, pipeline, model)
    return meta
