"""`segment`: the analyst's workflow, one subcommand per step, `retrain` for all of them.

Every step reads and writes files, so steps can be rerun, inspected and
scheduled one by one. Errors are one line (`Error: ...`) and a non-zero exit;
`--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

from privacy.urls import redact_url
from segmentation.errors import InputError, SegmentationError

DEFAULT_REDIS_URL = os.environ.get("PZ_REDIS_URL", "redis://127.0.0.1:6390/0")
ENGINES = ("sklearn", "spark")
DEFAULT_ALGORITHMS = {"sklearn": "kmeans,gmm,ward", "spark": "kmeans,gmm,bisecting_kmeans"}
SPARK_ALGORITHMS = ("kmeans", "bisecting_kmeans", "gmm")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-01") from None


def _redis(url: str):
    """A client for `url`: a Redis Cluster when PZ_REDIS_CLUSTER says so (README)."""
    import redis
    from redis.exceptions import RedisClusterException

    from actions.redis_clients import sync_client

    try:
        client = sync_client(url, socket_timeout=30, socket_connect_timeout=5)
        client.ping()
    except (redis.RedisError, RedisClusterException) as exc:
        raise SegmentationError(
            f"cannot reach Redis at {redact_url(url)} ({exc}); start it with "
            "'make run' or pass --redis-url"
        ) from None
    return client


def _engine(args) -> str:
    engine = getattr(args, "engine", None) or "sklearn"
    if engine not in ENGINES:
        raise SegmentationError(f"unknown engine {engine!r}; use --engine sklearn or spark")
    return engine


def _spark(args):
    """The Spark session of --engine spark (reused when one is already running)."""
    from segmentation.spark_engine import spark_session

    return spark_session(
        getattr(args, "spark_master", None), getattr(args, "spark_driver_memory", None)
    )


# --- steps --------------------------------------------------------------------------------


def _pseudonym_key() -> bytes:
    """PZ_PSEUDONYM_KEY (or its file; development: var/secrets/pseudonym.key)."""
    from privacy.keys import DEFAULT_SECRETS_DIR, load_pseudonym_key

    try:
        return load_pseudonym_key(os.environ, DEFAULT_SECRETS_DIR, allow_dev=True)[0]
    except ValueError as exc:
        raise SegmentationError(str(exc)) from None


def cmd_export(args) -> int:
    from segmentation.export import export

    path, rows = export(args.source, args.output, _pseudonym_key())
    _say(f"exported {rows} user messages to {path} (user ids pseudonymized)")
    return 0


def _load_events(path: str):
    from segmentation.features import EVENT_COLUMNS
    from segmentation.tables import read_table

    frame = read_table(path)
    missing = [c for c in EVENT_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            f"missing columns {', '.join(missing)}; was it written by 'segment export'?", path
        )
    frame["user_id"] = frame["user_id"].astype(str)
    for column in ("intent", "text", "channel", "timezone", "device", "region"):
        frame[column] = frame[column].fillna("").astype(str)
    return frame


def cmd_features(args) -> int:
    from privacy.pseudonyms import pseudonymize_frame
    from segmentation.features import build_features
    from segmentation.tables import write_table
    from segmentation.transactions import load_transactions

    loaded = load_transactions(
        args.transactions,
        user_col=args.user_col,
        time_col=args.time_col,
        amount_col=args.amount_col,
        category_col=args.category_col,
    )
    if loaded.duplicates_dropped:
        _say(f"warning: {args.transactions}: dropped {loaded.duplicates_dropped} duplicate rows")
    # CRM ids and exported ids meet as pseudonyms; ids that already are ones are kept.
    key = _pseudonym_key()
    transactions = pseudonymize_frame(loaded.frame, "user_id", key)
    events = pseudonymize_frame(_load_events(args.events), "user_id", key)
    features, as_of = build_features(transactions, events, args.as_of)
    write_table(features, args.output)
    _say(f"features for {len(features)} users as of {as_of} written to {args.output}")
    return 0


def _read_features(path: str):
    from segmentation.features import check_features
    from segmentation.tables import read_table

    frame = read_table(path)
    frame = check_features(frame, path)
    frame["user_id"] = frame["user_id"].astype(str)
    return frame


def cmd_select(args) -> int:
    if _engine(args) == "spark":
        return _select_spark(args)
    import numpy as np

    from segmentation.preprocess import as_frame, make_preprocessor
    from segmentation.selection import choose, summarize, sweep

    features = _read_features(args.features)
    rng = np.random.default_rng(args.random_state)
    if len(features) > args.sample:
        features = features.iloc[np.sort(rng.choice(len(features), args.sample, replace=False))]
    X = make_preprocessor().fit_transform(as_frame(features))
    if len(features) < 3:
        raise InputError(
            f"{len(features)} user(s): model selection needs at least 3", args.features
        )
    algorithms = tuple(
        a.strip() for a in (args.algorithms or DEFAULT_ALGORITHMS["sklearn"]).split(",")
    )
    covs = tuple(c.strip() for c in (args.covariance_types or "full,diag").split(","))
    started = time.perf_counter()
    candidates = sweep(
        X,
        range(args.k_min, args.k_max + 1),
        covs,
        algorithms,
        silhouette_sample=args.silhouette_sample,
        random_state=args.random_state,
    )
    chosen = choose(candidates, args.min_share)
    summary = summarize(candidates, chosen, len(features), args.silhouette_sample)
    return _selected(args, summary, chosen, len(candidates), len(features), started)


def _selected(args, summary: dict, chosen, candidates: int, users: int, started: float) -> int:
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(summary, indent=2))
    _say(
        f"compared {candidates} candidates on {users} users in "
        f"{time.perf_counter() - started:.1f} s; chosen: {chosen.algorithm} k={chosen.k}"
        f"{' ' + chosen.covariance_type if chosen.covariance_type else ''} "
        f"(silhouette {chosen.silhouette:.3f}; elbow at k={summary['knee_k']})"
    )
    return 0


def _select_spark(args) -> int:
    """`segment select --engine spark`: the same sweep and rule on Spark MLlib."""
    from segmentation.selection import choose, summarize
    from segmentation.spark_train import sweep_spark

    algorithms = tuple(
        a.strip() for a in (args.algorithms or DEFAULT_ALGORITHMS["spark"]).split(",")
    )
    unknown = [a for a in algorithms if a not in SPARK_ALGORITHMS]
    if unknown:
        raise SegmentationError(
            f"--engine spark has no {', '.join(unknown)}; use --algorithms from "
            f"{', '.join(SPARK_ALGORITHMS)} (bisecting_kmeans is Spark's hierarchical clustering)"
        )
    if args.covariance_types and {c.strip() for c in args.covariance_types.split(",")} != {"full"}:
        raise SegmentationError(
            "Spark's GaussianMixture fits full covariances only; drop --covariance-types"
        )
    started = time.perf_counter()
    with _spark(args) as spark:
        candidates, rows = sweep_spark(
            spark,
            args.features,
            range(args.k_min, args.k_max + 1),
            algorithms,
            sample=args.sample,
            silhouette_sample=args.silhouette_sample,
            random_state=args.random_state,
        )
    chosen = choose(candidates, args.min_share)
    summary = summarize(candidates, chosen, rows, min(rows, args.silhouette_sample))
    summary["engine"] = "spark"
    summary["silhouette_distance"] = "squared_euclidean"
    return _selected(args, summary, chosen, len(candidates), rows, started)


def _chosen_model(args) -> tuple[str, int, str | None]:
    """(algorithm, k, covariance type) from --selection, overridden by the options."""
    algorithm, k, cov = args.algorithm, args.k, args.covariance_type
    if args.selection:
        try:
            chosen = json.loads(Path(args.selection).read_text())["chosen"]
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"not a 'segment select' output ({exc})", args.selection) from None
        algorithm = algorithm or chosen["algorithm"]
        k = k or chosen["k"]
        cov = cov or chosen.get("covariance_type")
    if not algorithm or not k:
        raise SegmentationError(
            "give --selection (from 'segment select') or both --algorithm " "and --k"
        )
    return algorithm, int(k), cov


def cmd_train(args) -> int:
    from segmentation.labels import load_labels_file
    from segmentation.train import load_model_dir, save, train

    if _engine(args) == "spark":
        return _train_spark(args)
    features = _read_features(args.features)
    algorithm, k, cov = _chosen_model(args)
    if algorithm not in ("kmeans", "minibatch_kmeans", "gmm", "ward"):
        raise SegmentationError(f"{algorithm} runs on --engine spark only")
    previous, prev_assignments = None, None
    if args.previous and Path(args.previous, "model.json").exists():
        previous, prev_assignments, _ = load_model_dir(args.previous)
    labels = load_labels_file(args.labels) if args.labels else None
    result = train(
        features,
        algorithm,
        int(k),
        cov or "full",
        args.min_share,
        previous,
        labels,
        args.random_state,
        source=args.features,
    )
    out = save(result, Path(args.output), prev_assignments)
    return _trained(args, algorithm, k, result.meta, out)


def _trained(args, algorithm: str, k: int, meta: dict, out: Path) -> int:
    if args.selection:
        (out / "selection.json").write_text(Path(args.selection).read_text())
    sizes = ", ".join(f"{s['id']}={s['persona']} ({s['share']:.0%})" for s in meta["segments"])
    _say(f"trained {algorithm} k={k} on {meta['n_users']} users: {sizes}")
    for merge in meta["merges"]:
        _say(f"merged {merge['merged']} into {merge['into']}")
    _say(f"model written to {out}")
    return 0


def _train_spark(args) -> int:
    """`segment train --engine spark`: same inputs and model directory, fitted on Spark."""
    from segmentation.labels import load_labels_file
    from segmentation.spark_train import train_spark

    algorithm, k, cov = _chosen_model(args)
    if algorithm not in SPARK_ALGORITHMS:
        raise SegmentationError(
            f"algorithm {algorithm!r} has no Spark implementation; use --algorithm "
            f"{', '.join(SPARK_ALGORITHMS)} (bisecting_kmeans is Spark's hierarchical clustering)"
        )
    if algorithm == "gmm" and cov not in (None, "full"):
        _say(f"warning: Spark's GaussianMixture fits full covariances only, not {cov}")
    previous = None
    if args.previous and Path(args.previous, "model.json").exists():
        try:
            previous = json.loads(Path(args.previous, "model.json").read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"cannot read model.json ({exc})", args.previous) from None
    labels = load_labels_file(args.labels) if args.labels else None
    with _spark(args) as spark:
        meta = train_spark(
            spark,
            args.features,
            args.output,
            algorithm,
            k,
            args.min_share,
            previous,
            args.previous,
            labels,
            args.random_state,
        )
    return _trained(args, algorithm, k, meta, Path(args.output))


def cmd_publish(args) -> int:
    from segmentation.publish import Keys, publish
    from segmentation.train import load_model_dir

    meta, assignments, spec = load_model_dir(args.model_dir)
    client = _redis(args.redis_url)
    audit = {
        k: meta[k]
        for k in (
            "algorithm",
            "params",
            "scores",
            "features",
            "data_fingerprint",
            "code_version",
            "n_users",
        )
    }
    audit["segments"] = [
        {k: s[k] for k in ("id", "persona", "size", "share", "profile")} for s in meta["segments"]
    ]
    audit["model_dir"] = str(Path(args.model_dir).resolve())
    started = time.perf_counter()
    summary = publish(
        client,
        assignments["user_id"].tolist(),
        assignments["segment"].tolist(),
        audit,
        spec,
        Keys(args.namespace),
        keep=args.keep,
    )
    elapsed = time.perf_counter() - started
    (Path(args.model_dir) / "published.json").write_text(json.dumps(summary))
    notes = [f"published {summary['version']}: {summary['users']} users in {elapsed:.1f} s"]
    if summary["cleaned_stale"]:
        notes.append("removed stale " + ", ".join(summary["cleaned_stale"]))
    if summary["retired"]:
        notes.append("retired " + ", ".join(summary["retired"]))
    _say("; ".join(notes))
    print(summary["version"])
    return 0


def cmd_versions(args) -> int:
    from segmentation.publish import Keys, list_versions

    versions = list_versions(_redis(args.redis_url), Keys(args.namespace))
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


def cmd_rollback(args) -> int:
    from segmentation.publish import Keys, rollback

    version = rollback(_redis(args.redis_url), args.to, Keys(args.namespace))
    _say(f"active version is now {version}")
    return 0


def cmd_report(args) -> int:
    import joblib

    from segmentation.preprocess import as_frame
    from segmentation.report import build_report
    from segmentation.train import load_model_dir

    meta, assignments, _ = load_model_dir(args.model_dir)
    features = _read_features(args.features)
    joined = features.merge(assignments[["user_id", "segment"]], on="user_id", how="inner")
    if joined.empty:
        raise InputError(
            "no user of the features table is in the model's assignments; "
            "pass the features the model was trained on",
            args.features,
        )
    pipeline = joblib.load(Path(args.model_dir) / "preprocess.joblib")
    X = pipeline.transform(as_frame(joined))
    selection_path = Path(args.model_dir) / "selection.json"
    selection = (
        json.loads(selection_path.read_text())
        if selection_path.exists()
        else {
            "rule": "algorithm and k were set by hand",
            "candidates": [],
            "knee_k": None,
            "chosen": {"algorithm": meta["algorithm"], "k": meta["params"]["n_clusters"]},
        }
    )
    published = Path(args.model_dir) / "published.json"
    meta = {
        **meta,
        "version": json.loads(published.read_text())["version"]
        if published.exists()
        else "(not published)",
    }
    if not meta.get("hierarchical_note") and selection.get("hierarchical_note"):
        meta["hierarchical_note"] = selection["hierarchical_note"]
    path = build_report(
        X,
        meta["model_features"],
        joined["segment"].to_numpy(),
        meta,
        selection,
        args.output,
        sample_size=args.sample_size,
    )
    _say(f"report written to {path}")
    return 0


def cmd_retrain(args) -> int:
    """The weekly job: export, features, select, train, report, publish."""
    if _engine(args) == "spark":
        with _spark(args):  # one session for select and train
            return _retrain(args)
    return _retrain(args)


def _retrain(args) -> int:
    engine = {
        "engine": _engine(args),
        "spark_master": args.spark_master,
        "spark_driver_memory": args.spark_driver_memory,
    }
    work = Path(args.workdir)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    run, suffix = work / stamp, 1
    while run.exists():
        suffix += 1
        run = work / f"{stamp}-{suffix}"
    run.mkdir(parents=True)
    latest = work / "latest"
    previous = str((latest / "model").resolve()) if (latest / "model").exists() else None
    events = str(args.events)
    if not events.endswith((".csv", ".parquet")):
        events = str(run / "events.parquet")
        cmd_export(argparse.Namespace(source=args.events, output=events))
    steps = [
        (
            cmd_features,
            dict(
                transactions=args.transactions,
                events=events,
                as_of=args.as_of,
                output=str(run / "features.parquet"),
                user_col=args.user_col,
                time_col=args.time_col,
                amount_col=args.amount_col,
                category_col=args.category_col,
            ),
        ),
        (
            cmd_select,
            dict(
                features=str(run / "features.parquet"),
                output=str(run / "selection.json"),
                sample=args.sample,
                k_min=2,
                k_max=args.k_max,
                algorithms=args.algorithms,
                covariance_types=None,
                silhouette_sample=10_000,
                min_share=args.min_share,
                random_state=0,
                **engine,
            ),
        ),
        (
            cmd_train,
            dict(
                features=str(run / "features.parquet"),
                selection=str(run / "selection.json"),
                algorithm=None,
                k=None,
                covariance_type=None,
                min_share=args.min_share,
                labels=args.labels,
                previous=previous,
                output=str(run / "model"),
                random_state=0,
                **engine,
            ),
        ),
    ]
    for step, kwargs in steps:
        step(argparse.Namespace(**kwargs))
    if args.publish:
        cmd_publish(
            argparse.Namespace(
                model_dir=str(run / "model"),
                redis_url=args.redis_url,
                namespace=args.namespace,
                keep=args.keep,
            )
        )
    cmd_report(
        argparse.Namespace(
            features=str(run / "features.parquet"),
            model_dir=str(run / "model"),
            output=str(run / "report.html"),
            sample_size=args.report_sample,
        )
    )
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(run.resolve())
    _say(f"retrain finished: {run}")
    return 0


def cmd_demo_data(args) -> int:
    from segmentation.synthetic import make_dataset
    from segmentation.tables import write_table

    transactions, events, truth = make_dataset(args.users, args.random_state)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    transactions.to_csv(out / "transactions.csv", index=False)
    write_table(events, out / "events.parquet")
    truth.rename("persona").reset_index().to_csv(out / "planted_personas.csv", index=False)
    _say(f"synthetic data for {args.users} users written to {out}")
    return 0


# --- argument parsing ---------------------------------------------------------------------


def _add_redis(p) -> None:
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    p.add_argument("--namespace", default="pz")


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
    p.add_argument("--user-col", default="user_id")
    p.add_argument("--time-col", default="timestamp")
    p.add_argument("--amount-col", default="amount")
    p.add_argument("--category-col", default="category")


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
        "--as-of", type=_date, help="snapshot date (default: day after the last " "transaction)"
    )
    p.add_argument("-o", "--output", required=True)
    _add_tx_columns(p)
    p.set_defaults(func=cmd_features)

    p = sub.add_parser("select", help="compare algorithms and k; pick by the documented rule")
    p.add_argument("features")
    p.add_argument("-o", "--output", required=True, help="selection.json")
    p.add_argument("--sample", type=int, default=50_000, help="users to fit candidates on")
    p.add_argument("--k-min", type=int, default=2)
    p.add_argument("--k-max", type=int, default=12)
    p.add_argument(
        "--algorithms", help="default kmeans,gmm,ward (spark: kmeans,gmm,bisecting_kmeans)"
    )
    p.add_argument("--covariance-types", help="default full,diag (spark: full only)")
    p.add_argument("--silhouette-sample", type=int, default=10_000)
    p.add_argument("--min-share", type=float, default=0.02)
    p.add_argument("--random-state", type=int, default=0)
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
    p.add_argument("--min-share", type=float, default=0.02)
    p.add_argument("--labels", help="YAML: segment id -> persona overrides")
    p.add_argument("--previous", help="previous model directory (stable ids, moved users)")
    p.add_argument("--random-state", type=int, default=0)
    _add_engine(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("publish", help="write a new version to Redis and activate it")
    p.add_argument("model_dir")
    p.add_argument("--keep", type=int, default=5, help="versions to keep")
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
    p.add_argument("--sample-size", type=int, default=2000, help="users in the scatter plots")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("retrain", help="export, features, select, train, publish, report")
    p.add_argument("--events", required=True, help="endpoints.yml, .jsonl, or an export")
    p.add_argument("--transactions", required=True)
    p.add_argument("--workdir", default="var/segments")
    p.add_argument("--as-of", type=_date)
    p.add_argument("--sample", type=int, default=50_000)
    p.add_argument("--k-max", type=int, default=12)
    p.add_argument(
        "--algorithms", help="default kmeans,gmm,ward (spark: kmeans,gmm,bisecting_kmeans)"
    )
    p.add_argument("--min-share", type=float, default=0.02)
    p.add_argument("--labels")
    p.add_argument("--keep", type=int, default=5)
    p.add_argument("--no-publish", dest="publish", action="store_false")
    p.add_argument("--report-sample", type=int, default=2000, help="users in the scatter plots")
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
        return args.func(args)
    except SegmentationError as exc:
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
