"""The Spark session of `segment ... --engine spark`: Java check, quiet logging, local defaults.

The caller passes the master, the driver memory and the process environment
(`SparkOptions`; the CLI takes them from its flags and core/settings.py), so
nothing here reads the environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from segmentation.errors import SegmentationError, first_line

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


@dataclass(frozen=True)
class SparkOptions:
    """How a session started here runs (under spark-submit, its own options apply)."""

    master: str  # e.g. local[2] or spark://host:7077
    driver_memory: str  # e.g. 4g
    # The process environment: where Java is, and whether spark-submit started this process.
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def under_spark_submit(self) -> bool:
        return "PYSPARK_GATEWAY_PORT" in self.env


def check_java(env: Mapping[str, str]) -> str:
    """The java binary Spark will start; a one-line SegmentationError when there is none."""
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
def spark_session(options: SparkOptions, app_name: str = "segment") -> Iterator:
    """A SparkSession, stopped on exit only if this call started it (an active one is reused,
    so `segment retrain` runs select and train in one)."""
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
    if not options.under_spark_submit:
        check_java(options.env)
        master = options.master
        builder = (
            builder.master(master)
            .config("spark.driver.memory", options.driver_memory)
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={_log4j_file()}")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "8" if master.startswith("local") else "200")
        )
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # JVM start-up: Java, memory, master URL
        raise SegmentationError(
            f"cannot start Spark ({first_line(exc)}); check 'java -version' (17) and --spark-master"
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()
