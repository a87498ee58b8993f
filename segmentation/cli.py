"""`segment`: the analyst's workflow, one subcommand per step, `retrain` for all of them.

Every step reads and writes files, so steps can be rerun, inspected and
scheduled one by one. Errors are one line (`Error: ...`) and exit codes say whose
fault it was (cli_parser.EXIT_CODES); `--debug` shows the traceback. Long steps
show progress bars on a terminal; `--quiet` keeps only results, warnings and errors.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import fields

from core.settings import Settings, SettingsError
from segmentation.config import (
    AuditConfig,
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
    return TransactionColumns(
        args.user_col, args.time_col, args.amount_col, args.category_col, args.order_col
    )


# --- commands -----------------------------------------------------------------------------


def _config(cls, args, **given):
    """A step's config from the flags of the same names (the parser's dests are its fields)."""
    names = {f.name for f in fields(cls)} - given.keys()
    return cls(**{name: getattr(args, name) for name in names}, **given)


def cmd_export(args, settings: Settings) -> int:
    from segmentation.pipeline import export_events

    export_events(args.source, args.output, _pseudonym_key(settings), args.console)
    return 0


def cmd_features(args, settings: Settings) -> int:
    from segmentation.pipeline import make_features

    config = _config(FeaturesConfig, args, columns=_columns(args))
    make_features(config, _pseudonym_key(settings), args.console)
    return 0


def cmd_select(args, settings: Settings) -> int:
    from segmentation.pipeline import select_model

    select_model(_config(SelectConfig, args), _engine(args, settings), args.console)
    return 0


def cmd_train(args, settings: Settings) -> int:
    from segmentation.pipeline import train_model

    train_model(_config(TrainConfig, args), _engine(args, settings), args.console)
    return 0


def cmd_publish(args, settings: Settings) -> int:
    from segmentation.pipeline import publish_model

    publish_model(_config(PublishConfig, args), _redis(args, settings), args.console)
    return 0


def cmd_versions(args, settings: Settings) -> int:
    from segmentation.pipeline import connect
    from segmentation.publish import Keys, list_versions

    target = _redis(args, settings)
    versions = list_versions(connect(target), Keys(target.namespace))
    if not versions:
        args.console.say("no published versions")
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
    version = rollback(connect(target), args.to, Keys(target.namespace), by=args.by)
    args.console.say(f"active version is now {version}")
    return 0


def cmd_audit_log(args, settings: Settings) -> int:
    from segmentation.pipeline import audit_log

    audit_log(_redis(args, settings), args.card_of, args.json, args.console)
    return 0


def cmd_report(args, settings: Settings) -> int:
    from segmentation.pipeline import report_model

    report_model(_config(ReportConfig, args), args.console)
    return 0


def cmd_retrain(args, settings: Settings) -> int:
    from segmentation.fairness import FLAGGED_EXIT, AuditFlagged, precheck
    from segmentation.pipeline import retrain

    config = _config(
        RetrainConfig,
        args,
        redis=_redis(args, settings),
        columns=_columns(args),
        sensitive_cols=tuple(args.sensitive_cols),
    )
    precheck(config, _pseudonym_key(settings))
    try:
        retrain(config, _engine(args, settings), _pseudonym_key(settings), args.console)
    except AuditFlagged as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return FLAGGED_EXIT
    return 0


def cmd_audit(args, settings: Settings) -> int:
    from segmentation.fairness import FLAGGED_EXIT, flagged_message, run_audit
    from segmentation.fairness_report import text

    config = _config(
        AuditConfig, args, columns=_columns(args), sensitive_cols=tuple(args.sensitive_cols)
    )
    key = _pseudonym_key(settings) if config.transactions or config.events else b""
    audit = run_audit(config, key, args.console)
    args.console.show(text(audit))
    if config.strict and audit["flagged"]:
        print(f"Error: {flagged_message(audit, config.model_dir)} (--strict)", file=sys.stderr)
        return FLAGGED_EXIT
    return 0


def cmd_demo_data(args, settings: Settings) -> int:
    from segmentation.synthetic import write_dataset

    out = write_dataset(args.users, args.random_state, args.output)
    args.console.say(f"synthetic data for {args.users} users written to {out}")
    return 0


COMMANDS = {
    "export": cmd_export,
    "features": cmd_features,
    "select": cmd_select,
    "train": cmd_train,
    "publish": cmd_publish,
    "versions": cmd_versions,
    "rollback": cmd_rollback,
    "audit-log": cmd_audit_log,
    "report": cmd_report,
    "audit": cmd_audit,
    "retrain": cmd_retrain,
    "demo-data": cmd_demo_data,
}


def _console(quiet: bool):
    """Notes and progress bars on stderr unless --quiet; results and warnings always."""
    from segmentation.pipeline import Console
    from segmentation.progress import bars

    if quiet:
        return Console(say=lambda message: None, progress=bars(quiet=True))
    return Console()


def main(argv: list[str] | None = None) -> int:
    """Exit codes (cli_parser.EXIT_CODES): 0 done, 1 bad input or settings, 2 bad usage
    (argparse), 3 an unexpected failure (a bug or an outage), 4 a strict fairness audit
    flagged a disparity (cmd_audit, cmd_retrain), 130 interrupted."""
    from segmentation.cli_parser import parser

    args = parser(COMMANDS).parse_args(argv)
    args.console = _console(args.quiet)
    try:
        return args.func(args, Settings.from_env())
    except (SegmentationError, SettingsError) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `segment audit-log | head`: the reader has what it wanted
        with contextlib.suppress(OSError, ValueError):  # no flush error at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # the analyst gets one line; --debug shows the rest
        if args.debug:
            raise
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        print(
            f"Error: unexpected {type(exc).__name__}: {first_line} (rerun with --debug for "
            "details)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
