"""The Spark engine's session, input checks and preprocessing (`segment ... --engine spark`).

Everything that touches one row per user runs as Spark SQL expressions or MLlib
(no Python UDFs), so executors need only a JVM. The preprocessing has the
semantics of segmentation/preprocess.py: per numeric column, nulls and NaNs
take the column median (0 when the column is empty), money, counts and
durations are `log1p`-scaled, then every column is standardised (population
standard deviation, 1 when it is 0); `region` is one-hot encoded over its
sorted values. One difference: the median is Spark's `percentile_approx`
(rank error at most 1/MEDIAN_ACCURACY of the rows), an order statistic, where
numpy averages the two middle values.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from segmentation.errors import InputError, SegmentationError
from segmentation.features import CATEGORICAL_COLUMNS, FEATURE_COLUMNS, NUMERIC_COLUMNS
from segmentation.preprocess import LINEAR_COLUMNS, LOG_COLUMNS, make_preprocessor

DEFAULT_MASTER = os.environ.get("PZ_SPARK_MASTER", "local[2]")
DEFAULT_DRIVER_MEMORY = os.environ.get("PZ_SPARK_DRIVER_MEMORY", "4g")
MEDIAN_ACCURACY = 10_000
FEATURES = "features"  # the vector column MLlib reads
REGION = CATEGORICAL_COLUMNS[0]
ORDERED_NUMERIC = [*LOG_COLUMNS, *LINEAR_COLUMNS]  # the preprocessor's output order
# Errors only. The root level stays at WARN, the level Spark announces for interactive
# drivers (PySpark is one) unless they match; the appender drops what is below ERROR.
LOG4J = """rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.filter.threshold.type = ThresholdFilter
appender.console.filter.threshold.level = error
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n
"""


# --- session ------------------------------------------------------------------------------


def check_java(env: dict | None = None) -> str:
    """The java binary Spark will start; a one-line SegmentationError when there is none."""
    env = os.environ if env is None else env
    java_home = env.get("JAVA_HOME")
    if java_home:
        java = Path(java_home, "bin", "java")
        if java.exists():
            return str(java)
        raise SegmentationError(f"JAVA_HOME={java_home} has no bin/java; fix or unset JAVA_HOME")
    found = shutil.which("java", path=env.get("PATH", ""))
    if not found:
        raise SegmentationError(
            "Java not found: Spark needs a Java 17 runtime; run 'make install' (installs "
            "Debian's openjdk-17-jre-headless) or set JAVA_HOME"
        )
    return found


def _log4j_file() -> str:
    path = Path(tempfile.gettempdir(), f"segment-spark-log4j2-{os.getuid()}.properties")
    if not path.exists() or path.read_text() != LOG4J:
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".properties")
        with os.fdopen(fd, "w") as f:
            f.write(LOG4J)
        os.replace(tmp, path)  # atomic: a JVM starting meanwhile never reads half a file
    return str(path)


@contextlib.contextmanager
def spark_session(
    master: str | None = None, driver_memory: str | None = None, app_name: str = "segment"
) -> Iterator:
    """A SparkSession, stopped on exit only if this call started it.

    Under spark-submit (segmentation/spark_job.py) the master, memory and every
    other setting come from spark-submit's options; `master` and `driver_memory`
    apply to sessions started here (default local[2], 4g).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SegmentationError(
            "pyspark is not installed; run 'make install' (requirements/lock.txt has it)"
        ) from None

    active = SparkSession.getActiveSession()
    if active is not None:
        yield active
        return
    builder = SparkSession.builder.appName(app_name)
    if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not started by spark-submit
        check_java()
        master = master or DEFAULT_MASTER
        builder = (
            builder.master(master)
            .config("spark.driver.memory", driver_memory or DEFAULT_DRIVER_MEMORY)
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={_log4j_file()}")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "8" if master.startswith("local") else "200")
        )
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # JVM start-up: Java, memory, master URL
        raise SegmentationError(
            f"cannot start Spark ({_first_line(exc)}); check 'java -version' (17) and "
            "--spark-master"
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- reading and checking the features table -----------------------------------------------


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
    missing = [c for c in ["user_id", *FEATURE_COLUMNS] if c not in raw.columns]
    if missing:
        raise InputError(
            f"missing feature columns {', '.join(missing)}; was it written by "
            "'segment features'?",
            path,
        )
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
        raise InputError(f"cannot read table ({_first_line(exc)})", path) from None
    if stats["rows"] == 0:
        raise InputError("the features table has no users", path)
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
        raise InputError(f"cannot read table ({_first_line(exc)})", path) from None
    raise InputError("unsupported format; use one of .csv, .parquet", path)


# --- preprocessing ---------------------------------------------------------------------------


def _log1p(column):
    """preprocess.log1p_clipped as a Spark expression."""
    from pyspark.sql import functions as F

    return F.log1p(F.greatest(column, F.lit(0.0)))


def _np_log1p(values: np.ndarray) -> np.ndarray:
    return np.log1p(np.clip(values, 0.0, None))


class SparkPreprocessor:
    """segmentation/preprocess.py on Spark: `fit` collects the statistics in one pass,
    `transform` adds the `features` vector, `to_sklearn` returns the equivalent fitted
    ColumnTransformer (saved as preprocess.joblib, compiled into the assigner spec)."""

    def fit(self, frame) -> SparkPreprocessor:
        from pyspark.sql import functions as F

        aggs = [F.collect_set(REGION).alias("_regions"), F.count(F.lit(1)).alias("_rows")]
        for i, c in enumerate(ORDERED_NUMERIC):
            value = _log1p(F.col(c)) if c in LOG_COLUMNS else F.col(c)
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
            [c in LOG_COLUMNS for c in ORDERED_NUMERIC], _np_log1p(self.median_), self.median_
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
            out.append(_log1p(value) if c in LOG_COLUMNS else value)
        return out

    @property
    def n_features_out_(self) -> int:
        return len(ORDERED_NUMERIC) + len(self.categories_)

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
