"""The features table on Spark: read and checked, and preprocessed as segmentation/preprocess.py.

Everything that touches one row per user runs as Spark SQL expressions or MLlib
(no Python UDFs), so executors need only a JVM. The preprocessing has the
semantics of segmentation/preprocess.py: per numeric column, nulls and NaNs
take the column median (0 when the column is empty), money, counts and
durations are `log1p`-scaled, then every column is standardised (population
standard deviation, 1 when it is 0); `region` is one-hot encoded over its
sorted values. One difference: the median is Spark's `percentile_approx`
(rank error at most 1/MEDIAN_ACCURACY of the rows), an order statistic, where
numpy averages the two middle values.

The table itself comes from `segment features` for both engines (pandas,
segmentation/features.py and transactions.py): transactions are read, their
repeated order rows dropped and their amounts summed in exact cents in one place,
so `--engine spark` sees the same numbers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from segmentation.errors import InputError, first_line
from segmentation.features import (
    CATEGORICAL_COLUMNS,
    FEATURE_COLUMNS,
    NO_USERS,
    NUMERIC_COLUMNS,
    check_feature_columns,
)
from segmentation.preprocess import LINEAR_COLUMNS, LOG_COLUMNS, log1p_clipped, make_preprocessor

MEDIAN_ACCURACY = 10_000
FEATURES = "features"  # the vector column MLlib reads
REGION = CATEGORICAL_COLUMNS[0]
ORDERED_NUMERIC = [*LOG_COLUMNS, *LINEAR_COLUMNS]  # the preprocessor's output order


@dataclass
class FeatureTable:
    """The features as Spark sees them: `user_id`, numeric doubles (NaN -> null), `region`."""

    frame: object  # pyspark DataFrame
    rows: int
    fingerprint: str


def read_features(spark, path: str) -> FeatureTable:
    """Read and check a `segment features` table (.parquet or .csv; local, HDFS, S3...).

    One line InputErrors: missing file or columns, no users, rows without a user
    id, duplicate ids, non-numeric or infinite values.
    """
    from pyspark.sql import functions as F

    raw = _read(spark, path)
    check_feature_columns(raw.columns, path)
    numbers = {c: F.col(c).cast("double") for c in NUMERIC_COLUMNS}
    checks = [
        F.count(F.lit(1)).alias("rows"),
        F.count("user_id").alias("with_id"),
        F.expr(f"bit_xor(xxhash64(user_id, {', '.join(f'`{c}`' for c in FEATURE_COLUMNS)}))").alias(
            "hash"
        ),
    ]
    for c, value in numbers.items():
        checks.append(F.count(F.when(F.col(c).isNotNull() & value.isNull(), 1)).alias(f"bad_{c}"))
        checks.append(F.count(F.when(F.abs(value) == float("inf"), 1)).alias(f"inf_{c}"))
    try:
        stats = raw.agg(*checks).first().asDict()
    except Exception as exc:  # unreadable or corrupt files surface here, lazily
        raise InputError(f"cannot read table ({first_line(exc)})", path) from None
    if stats["rows"] == 0:
        raise InputError(NO_USERS, path)
    if stats["with_id"] < stats["rows"]:
        raise InputError(
            f"{stats['rows'] - stats['with_id']} row(s) without a user id", path, column="user_id"
        )
    duplicate = raw.groupBy("user_id").count().where("count > 1").limit(1).collect()
    if duplicate:
        raise InputError(f"duplicate user id {duplicate[0]['user_id']!r}", path, column="user_id")
    for c in NUMERIC_COLUMNS:
        if stats[f"bad_{c}"]:
            example = raw.where(F.col(c).isNotNull() & numbers[c].isNull()).first()[c]
            raise InputError(
                f"{stats[f'bad_{c}']} non-numeric value(s), e.g. {example!r}", path, column=c
            )
        if stats[f"inf_{c}"]:
            raise InputError(f"{stats[f'inf_{c}']} infinite value(s)", path, column=c)
    frame = raw.select(
        F.col("user_id").cast("string").alias("user_id"),
        *[F.when(F.isnan(v), None).otherwise(v).alias(c) for c, v in numbers.items()],
        F.coalesce(F.col(REGION).cast("string"), F.lit("unknown")).alias(REGION),
    )
    # A file with one row group is one partition, one core: spread it over every core.
    cores = spark.sparkContext.defaultParallelism
    if frame.rdd.getNumPartitions() < cores:
        frame = frame.repartition(cores)
    # Order-independent (XOR of row hashes): not comparable with the sklearn engine's.
    fingerprint = hashlib.sha256(f"{stats['rows']}:{stats['hash']}".encode()).hexdigest()[:16]
    return FeatureTable(frame, int(stats["rows"]), fingerprint)


def spark_path(path: str | Path) -> str:
    """A URI Spark reads the same way on every node: local paths become file:// URIs (on a
    cluster they must be on a mount all nodes share); hdfs://, s3a://... pass unchanged."""
    text = str(path)
    return text if "://" in text else Path(text).resolve().as_uri()


def _read(spark, path: str):
    if ("://" not in path or path.startswith("file://")) and not Path(
        path.removeprefix("file://")
    ).exists():
        raise InputError("file not found", path)
    try:
        if path.endswith(".parquet"):
            return spark.read.parquet(spark_path(path))
        if path.endswith(".csv"):
            return spark.read.csv(spark_path(path), header=True, inferSchema=False, mode="FAILFAST")
    except Exception as exc:
        raise InputError(f"cannot read table ({first_line(exc)})", path) from None
    raise InputError("unsupported format; use one of .csv, .parquet", path)


def spark_log1p(column):
    """preprocess.log1p_clipped as a Spark expression."""
    from pyspark.sql import functions as F

    return F.log1p(F.greatest(column, F.lit(0.0)))


class SparkPreprocessor:
    """segmentation/preprocess.py on Spark: `fit` collects the statistics in one pass,
    `transform` adds the `features` vector, `to_sklearn` returns the equivalent fitted
    ColumnTransformer (saved as preprocess.skops, compiled into the assigner spec)."""

    def fit(self, frame) -> SparkPreprocessor:
        from pyspark.sql import functions as F

        aggs = [F.collect_set(REGION).alias("_regions"), F.count(F.lit(1)).alias("_rows")]
        for i, c in enumerate(ORDERED_NUMERIC):
            value = spark_log1p(F.col(c)) if c in LOG_COLUMNS else F.col(c)
            aggs += [
                F.percentile_approx(c, 0.5, MEDIAN_ACCURACY).alias(f"median{i}"),
                F.count(c).alias(f"n{i}"),
                F.sum(value).alias(f"s{i}"),
                F.sum(value * value).alias(f"q{i}"),
            ]
        stats = frame.agg(*aggs).first()
        self.categories_ = sorted(stats["_regions"])
        n = self.n_samples_ = int(stats["_rows"])
        size = len(ORDERED_NUMERIC)
        get = lambda key: np.array([stats[f"{key}{i}"] or 0.0 for i in range(size)], float)  # noqa: E731
        self.median_ = get("median")  # 0 for an empty column, as MedianImputer
        # The imputed column's moments: the present values' sums plus the nulls at the median.
        filled = np.where(
            [c in LOG_COLUMNS for c in ORDERED_NUMERIC], log1p_clipped(self.median_), self.median_
        )
        missing = n - get("n")
        self.mean_ = (get("s") + missing * filled) / n
        self.var_ = np.maximum((get("q") + missing * filled**2) / n - self.mean_**2, 0.0)
        std = np.sqrt(self.var_)
        self.scale_ = np.where(std < 10 * np.finfo(float).eps, 1.0, std)  # as StandardScaler
        return self

    def _imputed(self) -> list:
        from pyspark.sql import functions as F

        out = []
        for i, c in enumerate(ORDERED_NUMERIC):
            value = F.coalesce(F.col(c), F.lit(float(self.median_[i])))
            out.append(spark_log1p(value) if c in LOG_COLUMNS else value)
        return out

    def transform(self, frame):
        """`frame` plus the `features` vector (standardised numerics, then one-hot regions)."""
        from pyspark.ml.functions import array_to_vector
        from pyspark.sql import functions as F

        scaled = [
            (v - float(m)) / float(s)
            for v, m, s in zip(self._imputed(), self.mean_, self.scale_, strict=True)
        ]
        onehot = [
            F.when(F.col(REGION) == c, F.lit(1.0)).otherwise(F.lit(0.0)) for c in self.categories_
        ]
        return frame.withColumn(FEATURES, array_to_vector(F.array(*scaled, *onehot)))

    def all_identical(self) -> bool:
        return bool(np.all(self.var_ < 10 * np.finfo(float).eps) and len(self.categories_) < 2)

    def to_sklearn(self):
        """The fitted make_preprocessor() ColumnTransformer with these statistics."""
        seed = pd.DataFrame({c: 0.0 for c in NUMERIC_COLUMNS}, index=range(len(self.categories_)))
        seed[REGION] = self.categories_
        pre = make_preprocessor().fit(seed[[*NUMERIC_COLUMNS, REGION]])
        n_log = len(LOG_COLUMNS)
        for name, part in (("log", slice(0, n_log)), ("linear", slice(n_log, None))):
            pipe = pre.named_transformers_[name]
            pipe["impute"].statistics_ = self.median_[part].copy()
            pipe["scale"].mean_ = self.mean_[part].copy()
            pipe["scale"].var_ = self.var_[part].copy()
            pipe["scale"].scale_ = self.scale_[part].copy()
            pipe["scale"].n_samples_seen_ = self.n_samples_
        return pre
