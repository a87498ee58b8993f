"""The `segment` command line: one subparser per step; `commands` maps names to functions."""

from __future__ import annotations

import argparse

from segmentation.config import (
    PublishConfig,
    ReportConfig,
    RetrainConfig,
    SelectConfig,
    TrainConfig,
    TransactionColumns,
)

DESCRIPTION = "segment: the analyst's workflow, one subcommand per step, `retrain` for all of them."


def _date(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from None


def _add_redis(p) -> None:
    p.add_argument("--redis-url")
    p.add_argument("--namespace", help="key namespace (default: $PZ_NAMESPACE or pz)")


def _add_engine(p) -> None:
    p.add_argument(
        "--engine", default="sklearn", help="sklearn (default) or spark (Apache Spark MLlib)"
    )
    p.add_argument(
        "--spark-master",
        help="for --engine spark: Spark master URL (default $PZ_SPARK_MASTER or local[2]; "
        "under spark-submit its --master applies)",
    )
    p.add_argument(
        "--spark-driver-memory", help="for --engine spark: local driver memory (default 4g)"
    )


def _add_tx_columns(p) -> None:
    p.add_argument("--user-col", default=TransactionColumns.user)
    p.add_argument("--time-col", default=TransactionColumns.time)
    p.add_argument("--amount-col", default=TransactionColumns.amount)
    p.add_argument("--category-col", default=TransactionColumns.category)


def parser(commands: dict) -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="segment", description=DESCRIPTION)
    root.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("export", help="conversations -> one row per user message")
    p.add_argument("source", help="endpoints.yml (tracker store) or events .jsonl")
    p.add_argument("-o", "--output", required=True, help=".csv or .parquet")
    p.set_defaults(func=commands["export"])

    p = sub.add_parser("features", help="transactions + events -> one row per user")
    p.add_argument("--transactions", required=True, help="CRM transactions CSV")
    p.add_argument("--events", required=True, help="'segment export' output")
    p.add_argument(
        "--as-of", type=_date, help="snapshot date (default: day after the last transaction)"
    )
    p.add_argument("-o", "--output", required=True)
    _add_tx_columns(p)
    p.set_defaults(func=commands["features"])

    p = sub.add_parser("select", help="compare algorithms and k; pick by the documented rule")
    p.add_argument("features")
    p.add_argument("-o", "--output", required=True, help="selection.json")
    p.add_argument(
        "--sample", type=int, default=SelectConfig.sample, help="users to fit candidates on"
    )
    p.add_argument("--k-min", type=int, default=SelectConfig.k_min)
    p.add_argument("--k-max", type=int, default=SelectConfig.k_max)
    p.add_argument(
        "--algorithms", help="default kmeans,gmm,ward (spark: kmeans,gmm,bisecting_kmeans)"
    )
    p.add_argument("--covariance-types", help="default full,diag (spark: full only)")
    p.add_argument("--silhouette-sample", type=int, default=SelectConfig.silhouette_sample)
    p.add_argument("--min-share", type=float, default=SelectConfig.min_share)
    p.add_argument("--random-state", type=int, default=SelectConfig.random_state)
    _add_engine(p)
    p.set_defaults(func=commands["select"])

    p = sub.add_parser("train", help="fit the chosen model, match identities, label personas")
    p.add_argument("features")
    p.add_argument("-o", "--output", required=True, help="model directory")
    p.add_argument("--selection", help="selection.json from 'segment select'")
    p.add_argument(
        "--algorithm", choices=["kmeans", "minibatch_kmeans", "gmm", "ward", "bisecting_kmeans"]
    )
    p.add_argument("--k", type=int)
    p.add_argument("--covariance-type", choices=["full", "tied", "diag", "spherical"])
    p.add_argument("--min-share", type=float, default=TrainConfig.min_share)
    p.add_argument("--labels", help="YAML: segment id -> persona overrides")
    p.add_argument("--previous", help="previous model directory (stable ids, moved users)")
    p.add_argument("--random-state", type=int, default=TrainConfig.random_state)
    _add_engine(p)
    p.set_defaults(func=commands["train"])

    p = sub.add_parser("publish", help="write a new version to Redis and activate it")
    p.add_argument("model_dir")
    p.add_argument("--keep", type=int, default=PublishConfig.keep, help="versions to keep")
    _add_redis(p)
    p.set_defaults(func=commands["publish"])

    p = sub.add_parser("versions", help="list published versions (* = active)")
    _add_redis(p)
    p.set_defaults(func=commands["versions"])

    p = sub.add_parser("rollback", help="activate an earlier version")
    p.add_argument("--to", help="version id (default: the one before the active)")
    _add_redis(p)
    p.set_defaults(func=commands["rollback"])

    p = sub.add_parser("report", help="self-contained HTML report")
    p.add_argument("features")
    p.add_argument("model_dir")
    p.add_argument("-o", "--output", required=True, help="report.html")
    p.add_argument(
        "--sample-size",
        type=int,
        default=ReportConfig.sample_size,
        help="users in the scatter plots",
    )
    p.set_defaults(func=commands["report"])

    p = sub.add_parser("retrain", help="export, features, select, train, publish, report")
    p.add_argument("--events", required=True, help="endpoints.yml, .jsonl, or an export")
    p.add_argument("--transactions", required=True)
    p.add_argument("--workdir", default=RetrainConfig.workdir)
    p.add_argument("--as-of", type=_date)
    p.add_argument("--sample", type=int, default=RetrainConfig.sample)
    p.add_argument("--k-max", type=int, default=RetrainConfig.k_max)
    p.add_argument(
        "--algorithms", help="default kmeans,gmm,ward (spark: kmeans,gmm,bisecting_kmeans)"
    )
    p.add_argument("--min-share", type=float, default=RetrainConfig.min_share)
    p.add_argument("--labels")
    p.add_argument("--keep", type=int, default=RetrainConfig.keep)
    p.add_argument("--no-publish", dest="publish", action="store_false")
    p.add_argument(
        "--report-sample",
        type=int,
        default=RetrainConfig.report_sample,
        help="users in the scatter plots",
    )
    _add_engine(p)
    _add_redis(p)
    _add_tx_columns(p)
    p.set_defaults(func=commands["retrain"])

    p = sub.add_parser("demo-data", help="synthetic transactions and events with planted personas")
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=commands["demo-data"])
    return root
