"""The `segment` command line: one subparser per step; `commands` maps names to functions."""

from __future__ import annotations

import argparse

from segmentation.config import (
    AuditConfig,
    PublishConfig,
    ReportConfig,
    RetrainConfig,
    SelectConfig,
    TrainConfig,
    TransactionColumns,
)

DESCRIPTION = "segment: the analyst's workflow, one subcommand per step, `retrain` for all of them."
EXIT_CODES = """exit codes:
  0    done
  1    bad input or settings (the one 'Error:' line says what to fix); nothing written
  2    bad usage (an unknown option, a missing argument)
  3    unexpected failure (a bug or an outage; rerun with --debug for the traceback)
  4    the fairness audit flagged a disparity (audit --strict, retrain --strict-audit)
  130  interrupted (Ctrl-C)

Long steps show progress bars when stderr is a terminal; --quiet turns them off."""


QUIET = "no progress bars or notes; results, warnings and errors still show"
DEBUG = "show tracebacks"


class _StepParser(argparse.ArgumentParser):
    """A subcommand's parser; at least one of the options in `one_of` must be given."""

    one_of: tuple[str, ...] = ()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # also after the subcommand, where analysts type them; SUPPRESS keeps the global value
        self.add_argument(
            "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET
        )
        self.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG)

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        dests = [option.lstrip("-").replace("-", "_") for option in self.one_of]
        if dests and all(getattr(namespace, dest, None) is None for dest in dests):
            self.error(f"give {', '.join(self.one_of[:-1])} or {self.one_of[-1]}, or both")
        return namespace, extras


def _date(text: str):
    import datetime as dt

    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from None


def _add_redis(p) -> None:
    p.add_argument("--redis-url", help="Redis to publish to (default: $PZ_REDIS_URL)")
    p.add_argument("--namespace", help="key namespace (default: $PZ_NAMESPACE or pz)")


def _add_by(p) -> None:
    p.add_argument("--by", help="who does this, for the audit log (default: the OS user)")


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
    p.add_argument(
        "--user-col",
        default=TransactionColumns.user,
        help="CSV column of the user id (%(default)s)",
    )
    p.add_argument(
        "--time-col", default=TransactionColumns.time, help="CSV column of the time (%(default)s)"
    )
    p.add_argument(
        "--amount-col",
        default=TransactionColumns.amount,
        help="CSV column of the amount (%(default)s)",
    )
    p.add_argument(
        "--category-col",
        default=TransactionColumns.category,
        help="CSV column of the product category (%(default)s)",
    )
    p.add_argument(
        "--order-col",
        help="CSV column of the order id: rows repeating an earlier row of the same order in "
        "every column are dropped as duplicate deliveries (default: none, every row is a "
        "purchase)",
    )


def _add_audit(p, retrain: bool = False) -> None:
    """The fairness audit's options (segmentation/fairness.py), for `audit` and `retrain`."""
    p.add_argument(
        "--sensitive-col",
        dest="sensitive_cols",
        action="append",
        default=[],
        metavar="NAME",
        help="a column of the transactions CSV to compare groups by (e.g. age_band); "
        "repeatable; read for the audit only, never a feature",
    )
    p.add_argument(
        "--audit-threshold" if retrain else "--threshold",
        type=float,
        default=AuditConfig.threshold,
        help="flag a disparity ratio (lowest group / highest) under this (%(default)s, the "
        "four-fifths rule)",
    )
    p.add_argument(
        "--min-group-size",
        dest="audit_min_group_size" if retrain else "min_group_size",
        type=int,
        help="audit: leave out groups of fewer shoppers (default: a group of one is an error)",
    )
    p.add_argument(
        "--strict-audit" if retrain else "--strict",
        action="store_true",
        help="exit code 4 when the audit flags anything"
        + ("; nothing is published" if retrain else ""),
    )


def parser(commands: dict) -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="segment",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--debug", action="store_true", help=DEBUG)
    root.add_argument("-q", "--quiet", action="store_true", help=QUIET)
    sub = root.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        parser_class=_StepParser,
        help="the step to run; 'segment COMMAND --help' shows its options",
    )

    p = sub.add_parser("export", help="conversations -> one row per user message")
    p.add_argument("source", help="endpoints.yml (tracker store) or events .jsonl")
    p.add_argument("-o", "--output", required=True, help=".csv or .parquet")
    p.set_defaults(func=commands["export"])

    p = sub.add_parser("features", help="transactions and/or events -> one row per user")
    p.one_of = ("--transactions", "--events")
    p.add_argument(
        "--transactions", help="CRM transactions CSV (without it purchase features are empty)"
    )
    p.add_argument(
        "--events", help="'segment export' output (without it conversation features are empty)"
    )
    p.add_argument(
        "--as-of",
        type=_date,
        help="snapshot date (default: day after the last transaction, or without "
        "transactions after the last message)",
    )
    p.add_argument("-o", "--output", required=True, help="features table, .parquet or .csv")
    _add_tx_columns(p)
    p.set_defaults(func=commands["features"])

    p = sub.add_parser("select", help="compare algorithms and k; pick by the documented rule")
    p.add_argument("features", help="'segment features' output")
    p.add_argument("-o", "--output", required=True, help="selection.json")
    p.add_argument(
        "--sample", type=int, default=SelectConfig.sample, help="users to fit candidates on"
    )
    p.add_argument(
        "--k-min", type=int, default=SelectConfig.k_min, help="fewest segments (%(default)s)"
    )
    p.add_argument(
        "--k-max", type=int, default=SelectConfig.k_max, help="most segments (%(default)s)"
    )
    p.add_argument(
        "--algorithms", help="default kmeans,gmm,ward (spark: kmeans,gmm,bisecting_kmeans)"
    )
    p.add_argument("--covariance-types", help="default full,diag (spark: full only)")
    p.add_argument(
        "--silhouette-sample",
        type=int,
        default=SelectConfig.silhouette_sample,
        help="users the silhouette is computed on (%(default)s)",
    )
    p.add_argument(
        "--min-share",
        type=float,
        default=SelectConfig.min_share,
        help="smallest segment a candidate may have, as a share of users (%(default)s)",
    )
    p.add_argument(
        "--random-state", type=int, default=SelectConfig.random_state, help="seed (%(default)s)"
    )
    _add_engine(p)
    p.set_defaults(func=commands["select"])

    p = sub.add_parser("train", help="fit the chosen model, match identities, label personas")
    p.add_argument("features", help="'segment features' output")
    p.add_argument("-o", "--output", required=True, help="model directory")
    p.add_argument("--selection", help="selection.json from 'segment select'")
    p.add_argument(
        "--algorithm",
        choices=["kmeans", "minibatch_kmeans", "gmm", "ward", "bisecting_kmeans"],
        help="overrides the selection's algorithm",
    )
    p.add_argument("--k", type=int, help="number of segments; overrides the selection's k")
    p.add_argument(
        "--covariance-type",
        choices=["full", "tied", "diag", "spherical"],
        help="for gmm; overrides the selection's",
    )
    p.add_argument(
        "--min-share",
        type=float,
        default=TrainConfig.min_share,
        help="segments smaller than this share of users are merged (%(default)s)",
    )
    p.add_argument("--labels", help="YAML: segment id -> persona overrides")
    p.add_argument("--previous", help="previous model directory (stable ids, moved users)")
    p.add_argument(
        "--random-state", type=int, default=TrainConfig.random_state, help="seed (%(default)s)"
    )
    _add_engine(p)
    p.set_defaults(func=commands["train"])

    p = sub.add_parser("publish", help="write a new version to Redis and activate it")
    p.add_argument("model_dir", help="'segment train' output")
    p.add_argument(
        "--keep", type=int, default=PublishConfig.keep, help="versions to keep (%(default)s)"
    )
    _add_by(p)
    _add_redis(p)
    p.set_defaults(func=commands["publish"])

    p = sub.add_parser("versions", help="list published versions (* = active)")
    _add_redis(p)
    p.set_defaults(func=commands["versions"])

    p = sub.add_parser("rollback", help="activate an earlier version")
    p.add_argument("--to", help="version id (default: the one before the active)")
    _add_by(p)
    _add_redis(p)
    p.set_defaults(func=commands["rollback"])

    p = sub.add_parser(
        "audit-log", help="every publish, activation and rollback, kept past retention"
    )
    p.add_argument("--json", action="store_true", help="print the entries as JSON, with cards")
    p.add_argument(
        "--version", dest="card_of", metavar="VERSION", help="print this version's model card"
    )
    _add_redis(p)
    p.set_defaults(func=commands["audit-log"])

    p = sub.add_parser("report", help="self-contained HTML report")
    p.add_argument("features", help="the features table the model was trained on")
    p.add_argument("model_dir", help="'segment train' output")
    p.add_argument("-o", "--output", required=True, help="report.html")
    p.add_argument(
        "--sample-size",
        type=int,
        default=ReportConfig.sample_size,
        help="users in the scatter plots",
    )
    p.set_defaults(func=commands["report"])

    p = sub.add_parser("retrain", help="export, features, select, train, publish, report")
    p.one_of = ("--events", "--transactions")
    p.add_argument("--events", help="endpoints.yml, .jsonl, or an export (optional)")
    p.add_argument("--transactions", help="CRM transactions CSV (optional; one of the two)")
    p.add_argument(
        "--workdir",
        default=RetrainConfig.workdir,
        help="a new run directory goes here; 'latest' points to it (%(default)s)",
    )
    p.add_argument(
        "--as-of",
        type=_date,
        help="snapshot date (default: day after the last transaction, or without "
        "transactions after the last message)",
    )
    p.add_argument(
        "--sample",
        type=int,
        default=RetrainConfig.sample,
        help="users to fit candidates on (%(default)s)",
    )
    p.add_argument(
        "--k-max", type=int, default=RetrainConfig.k_max, help="most segments (%(default)s)"
    )
    p.add_argument(
        "--algorithms", help="default kmeans,gmm,ward (spark: kmeans,gmm,bisecting_kmeans)"
    )
    p.add_argument(
        "--min-share",
        type=float,
        default=RetrainConfig.min_share,
        help="smallest segment share; smaller ones are merged (%(default)s)",
    )
    p.add_argument("--labels", help="YAML: segment id -> persona overrides")
    p.add_argument(
        "--keep", type=int, default=RetrainConfig.keep, help="versions to keep (%(default)s)"
    )
    p.add_argument(
        "--no-publish",
        dest="publish",
        action="store_false",
        help="stop before Redis: model and report only",
    )
    p.add_argument(
        "--report-sample",
        type=int,
        default=RetrainConfig.report_sample,
        help="users in the scatter plots",
    )
    _add_audit(p, retrain=True)
    _add_by(p)
    _add_engine(p)
    _add_redis(p)
    _add_tx_columns(p)
    p.set_defaults(func=commands["retrain"])

    p = sub.add_parser("audit", help="fairness: segments, answers and conversion across groups")
    p.add_argument("features", help="the features table the model was trained on")
    p.add_argument("model_dir", help="'segment train' output; fairness.json is written into it")
    p.add_argument(
        "--transactions", help="CRM transactions CSV: --sensitive-col and --as-of read it"
    )
    p.add_argument("--events", help="'segment export' output: groups by device and channel")
    p.add_argument(
        "--as-of",
        type=_date,
        help="the features' snapshot date: conversion is a purchase on or after it in "
        "--transactions (default: conversion is has_purchases, bought before the snapshot)",
    )
    _add_audit(p)
    p.add_argument("-o", "--output", help="a copy of the audit: .html page or .json")
    _add_tx_columns(p)
    p.set_defaults(func=commands["audit"])

    p = sub.add_parser("demo-data", help="synthetic transactions and events with planted personas")
    p.add_argument("--users", type=int, default=5000, help="how many users (%(default)s)")
    p.add_argument("--random-state", type=int, default=0, help="seed (%(default)s)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="directory for transactions.csv, events.parquet and planted_personas.csv",
    )
    p.set_defaults(func=commands["demo-data"])
    return root
