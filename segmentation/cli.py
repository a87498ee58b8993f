"""`segment`: the analyst's workflow, one subcommand per step, `retrain` for all of them.

Every step reads and writes files, so steps can be rerun, inspected and
scheduled one by one. Errors are one line (`Error: ...`) and a non-zero exit;
`--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import fields

from core.settings import Settings, SettingsError
from segmentation.config import (
    FeaturesConfig,
    PublishConfig,
    RedisTarget,
    ReportConfig,
    RetrainConfig,
    SelectConfig,
    TrainConfig,
    TransactionColumns,
)
from segmentation.errors import SegmentationError


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from None


def _redis(args, settings: Settings) -> RedisTarget:
    """--redis-url and --namespace (defaults PZ_REDIS_URL and PZ_NAMESPACE, as the services
    read them), a Redis Cluster when PZ_REDIS_CLUSTER says so."""
    url, namespace = (
        args.redis_url or settings.redis.url,
        args.namespace or settings.redis.namespace,
    )
    return RedisTarget(url, namespace, settings.redis.cluster)


def _engine(args, settings: Settings):
    from segmentation.engines import make_engine
    from segmentation.spark_session import SparkOptions

    spark = SparkOptions(
        args.spark_master or settings.spark.master,
        args.spark_driver_memory or settings.spark.driver_memory,
        settings.env,
    )
    return make_engine(args.engine, spark)


def _pseudonym_key(settings: Settings) -> bytes:
    """PZ_PSEUDONYM_KEY (or its file; development: var/secrets/pseudonym.key)."""
    from privacy.keyring import service_pseudonym_key

    try:
        return service_pseudonym_key(settings)
    except ValueError as exc:
        raise SegmentationError(str(exc)) from None


def _columns(args) -> TransactionColumns:
    return TransactionColumns(args.user_col, args.time_col, args.amount_col, args.category_col)


# --- commands -----------------------------------------------------------------------------


def _config(cls, args, **given):
    """A step's config from the flags of the same names (the parser's dests are its fields)."""
    names = {f.name for f in fields(cls)} - given.keys()
    return cls(**{name: getattr(args, name) for name in names}, **given)


def cmd_export(args, settings: Settings) -> int:
    from segmentation.pipeline import export_events

    export_events(args.source, args.output, _pseudonym_key(settings))
    return 0


def cmd_features(args, settings: Settings) -> int:
    from segmentation.pipeline import make_features

    config = _config(FeaturesConfig, args, columns=_columns(args))
    make_features(config, _pseudonym_key(settings))
    return 0


def cmd_select(args, settings: Settings) -> int:
    from segmentation.pipeline import select_model

    select_model(_config(SelectConfig, args), _engine(args, settings))
    return 0


def cmd_train(args, settings: Settings) -> int:
    from segmentation.pipeline import train_model

    train_model(_config(TrainConfig, args), _engine(args, settings))
    return 0


def cmd_publish(args, settings: Settings) -> int:
    from segmentation.pipeline import publish_model

    publish_model(_config(PublishConfig, args), _redis(args, settings))
    return 0


def cmd_versions(args, settings: Settings) -> int:
    from segmentation.pipeline import connect
    from segmentation.publish import Keys, list_versions

    target = _redis(args, settings)
    versions = list_versions(connect(target), Keys(target.namespace))
    if not versions:
        _say("no published versions")
        return 0
    print(f"{'':2}{'version':28}{'created (UTC)':22}{'users':>10}  algorithm  scores")
    for v in versions:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(v["created_at"])))
        scores = json.loads(v.get("scores", "{}"))
        sil = scores.get("silhouette")
        print(
            f"{'*' if v['active'] else ' ':2}{v['version']:28}{created:22}{v.get('rows', '?'):>10}"
            f"  {v.get('algorithm', '?'):9}  silhouette={sil if sil is None else round(sil, 3)}"
        )
    return 0


def cmd_rollback(args, settings: Settings) -> int:
    from segmentation.pipeline import connect
    from segmentation.publish import Keys, rollback

    target = _redis(args, settings)
    version = rollback(connect(target), args.to, Keys(target.namespace))
    _say(f"active version is now {version}")
    return 0


def cmd_report(args, settings: Settings) -> int:
    from segmentation.pipeline import report_model

    report_model(_config(ReportConfig, args))
    return 0


def cmd_retrain(args, settings: Settings) -> int:
    from segmentation.pipeline import retrain

    config = _config(RetrainConfig, args, redis=_redis(args, settings), columns=_columns(args))
    retrain(config, _engine(args, settings), _pseudonym_key(settings))
    return 0


def cmd_demo_data(args, settings: Settings) -> int:
    from segmentation.synthetic import write_dataset

    out = write_dataset(args.users, args.random_state, args.output)
    _say(f"synthetic data for {args.users} users written to {out}")
    return 0


# --- argument parsing ---------------------------------------------------------------------


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


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="segment", description=__doc__.splitlines()[0])
    root.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = root.add_subparsers(dest="command", required=True)

    p = sub.add_parser("export", help="conversations -> one row per user message")
    p.add_argument("source", help="endpoints.yml (tracker store) or events .jsonl")
    p.add_argument("-o", "--output", required=True, help=".csv or .parquet")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("features", help="transactions + events -> one row per user")
    p.add_argument("--transactions", required=True, help="CRM transactions CSV")
    p.add_argument("--events", required=True, help="'segment export' output")
    p.add_argument(
        "--as-of", type=_date, help="snapshot date (default: day after the last transaction)"
    )
    p.add_argument("-o", "--output", required=True)
    _add_tx_columns(p)
    p.set_defaults(func=cmd_features)

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
    p.set_defaults(func=cmd_select)

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
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("publish", help="write a new version to Redis and activate it")
    p.add_argument("model_dir")
    p.add_argument("--keep", type=int, default=PublishConfig.keep, help="versions to keep")
    _add_redis(p)
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("versions", help="list published versions (* = active)")
    _add_redis(p)
    p.set_defaults(func=cmd_versions)

    p = sub.add_parser("rollback", help="activate an earlier version")
    p.add_argument("--to", help="version id (default: the one before the active)")
    _add_redis(p)
    p.set_defaults(func=cmd_rollback)

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
    p.set_defaults(func=cmd_report)

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
    p.set_defaults(func=cmd_retrain)

    p = sub.add_parser("demo-data", help="synthetic transactions and events with planted personas")
    p.add_argument("--users", type=int, default=5000)
    p.add_argument("--random-state", type=int, default=0)
    p.add_argument("-o", "--output", required=True)
    p.set_defaults(func=cmd_demo_data)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args, Settings.from_env())
    except (SegmentationError, SettingsError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the analyst gets one line; --debug shows the rest
        if args.debug:
            raise
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        print(
            f"Error: unexpected {type(exc).__name__}: {first_line} (rerun with --debug for "
            "details)",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
