"""The analyst's workflow as plain functions: each step reads and writes files.

`segment` (segmentation/cli.py) turns its flags into the configs of
segmentation/config.py and calls these; `retrain` calls them in a row. Where
the scikit-learn and Spark engines differ is segmentation/engines.py. Steps
report progress through a Console (stderr), and print to stdout only what a
script reads (the published version).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.urls import redact_url
from segmentation.config import (
    FeaturesConfig,
    ModelChoice,
    PublishConfig,
    RedisTarget,
    ReportConfig,
    RetrainConfig,
    SelectConfig,
    TrainConfig,
)
from segmentation.engines import Engine
from segmentation.errors import InputError, SegmentationError


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _stdout(message: str) -> None:
    print(message, flush=True)


@dataclass(frozen=True)
class Console:
    say: Callable[[str], None] = _stderr  # progress and warnings
    show: Callable[[str], None] = _stdout  # results a script reads


CONSOLE = Console()


def connect(target: RedisTarget):
    """A client for the target Redis (or Redis Cluster), checked with a PING."""
    import redis
    from redis.exceptions import RedisClusterException

    from core.redis_clients import sync_client

    try:
        client = sync_client(
            target.url, target.cluster, socket_timeout=30, socket_connect_timeout=5
        )
        client.ping()
    except (redis.RedisError, RedisClusterException) as exc:
        raise SegmentationError(
            f"cannot reach Redis at {redact_url(target.url)} ({exc}); start it with "
            "'make run' or pass --redis-url"
        ) from None
    return client


def export_events(source: str, output: str, pseudonym_key: bytes, console=CONSOLE) -> Path:
    from segmentation.export import export

    path, rows = export(source, output, pseudonym_key)
    console.say(f"exported {rows} user messages to {path} (user ids pseudonymized)")
    return path


def make_features(config: FeaturesConfig, pseudonym_key: bytes, console=CONSOLE) -> Path:
    from core.pseudonyms import pseudonymize_frame
    from segmentation.features import build_features, read_events
    from segmentation.tables import write_table
    from segmentation.transactions import load_transactions

    columns = config.columns
    loaded = load_transactions(
        config.transactions,
        user_col=columns.user,
        time_col=columns.time,
        amount_col=columns.amount,
        category_col=columns.category,
    )
    if loaded.duplicates_dropped:
        console.say(
            f"warning: {config.transactions}: dropped {loaded.duplicates_dropped} duplicate rows"
        )
    # CRM ids and exported ids meet as pseudonyms; ids that already are ones are kept.
    transactions = pseudonymize_frame(loaded.frame, "user_id", pseudonym_key)
    events = pseudonymize_frame(read_events(config.events), "user_id", pseudonym_key)
    features, as_of = build_features(transactions, events, config.as_of)
    path = write_table(features, config.output)
    console.say(f"features for {len(features)} users as of {as_of} written to {config.output}")
    return path


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(","))


def select_model(config: SelectConfig, engine: Engine, console=CONSOLE) -> dict:
    """Sweep algorithms and k, pick by selection.RULE, write selection.json; its contents."""
    from segmentation.selection import choose, summarize

    algorithms = _names(config.algorithms or engine.default_algorithms)
    covariance_types = _names(config.covariance_types) if config.covariance_types else None
    engine.check_select(algorithms, covariance_types)
    started = time.perf_counter()
    swept = engine.sweep(config, algorithms, covariance_types)
    chosen = choose(swept.candidates, config.min_share)
    summary = summarize(swept.candidates, chosen, swept.rows, swept.silhouette_sample)
    summary.update(swept.notes)
    Path(config.output).parent.mkdir(parents=True, exist_ok=True)
    Path(config.output).write_text(json.dumps(summary, indent=2))
    console.say(
        f"compared {len(swept.candidates)} candidates on {swept.rows} users in "
        f"{time.perf_counter() - started:.1f} s; chosen: {chosen.algorithm} k={chosen.k}"
        f"{' ' + chosen.covariance_type if chosen.covariance_type else ''} "
        f"(silhouette {chosen.silhouette:.3f}; elbow at k={summary['knee_k']})"
    )
    return summary


def chosen_model(config: TrainConfig) -> ModelChoice:
    """The model of --selection, overridden by --algorithm, --k and --covariance-type."""
    algorithm, k, cov = config.algorithm, config.k, config.covariance_type
    if config.selection:
        try:
            chosen = json.loads(Path(config.selection).read_text())["chosen"]
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"not a 'segment select' output ({exc})", config.selection) from None
        algorithm = algorithm or chosen["algorithm"]
        k = k or chosen["k"]
        cov = cov or chosen.get("covariance_type")
    if not algorithm or not k:
        raise SegmentationError(
            "give --selection (from 'segment select') or both --algorithm and --k"
        )
    return ModelChoice(algorithm, int(k), cov)


def train_model(config: TrainConfig, engine: Engine, console=CONSOLE) -> dict:
    """Fit the chosen model, keep the previous model's ids, write the model directory."""
    from segmentation.labels import load_labels_file
    from segmentation.model_dir import copy_selection, load_previous

    choice = chosen_model(config)
    engine.check_train(choice, console.say)
    previous = load_previous(config.previous)
    labels = load_labels_file(config.labels) if config.labels else None
    meta = engine.train(config, choice, previous, labels)
    out = Path(config.output)
    if config.selection:
        copy_selection(config.selection, out)
    sizes = ", ".join(f"{s['id']}={s['persona']} ({s['share']:.0%})" for s in meta["segments"])
    console.say(f"trained {choice.algorithm} k={choice.k} on {meta['n_users']} users: {sizes}")
    for merge in meta["merges"]:
        console.say(f"merged {merge['merged']} into {merge['into']}")
    console.say(f"model written to {out}")
    return meta


def publish_model(config: PublishConfig, target: RedisTarget, console=CONSOLE) -> dict:
    """A new version of the model's assignments in Redis, activated; the publish summary."""
    from segmentation.model_dir import load_model_dir, write_published
    from segmentation.publish import Keys, audit_record, publish

    meta, assignments, spec = load_model_dir(config.model_dir)
    client = connect(target)
    started = time.perf_counter()
    summary = publish(
        client,
        assignments["user_id"].tolist(),
        assignments["segment"].tolist(),
        audit_record(meta, config.model_dir),
        spec,
        Keys(target.namespace),
        keep=config.keep,
    )
    elapsed = time.perf_counter() - started
    write_published(config.model_dir, summary)
    notes = [f"published {summary['version']}: {summary['users']} users in {elapsed:.1f} s"]
    if summary["cleaned_stale"]:
        notes.append("removed stale " + ", ".join(summary["cleaned_stale"]))
    if summary["retired"]:
        notes.append("retired " + ", ".join(summary["retired"]))
    console.say("; ".join(notes))
    console.show(summary["version"])
    return summary


def report_model(config: ReportConfig, console=CONSOLE) -> Path:
    """The HTML report of a model directory, on the features it was trained on."""
    import joblib

    from segmentation.features import read_feature_table
    from segmentation.model_dir import PREPROCESS, load_model_dir, published_version, read_selection
    from segmentation.preprocess import as_frame
    from segmentation.report import build_report

    meta, assignments, _ = load_model_dir(config.model_dir)
    features = read_feature_table(config.features)
    joined = features.merge(assignments[["user_id", "segment"]], on="user_id", how="inner")
    if joined.empty:
        raise InputError(
            "no user of the features table is in the model's assignments; "
            "pass the features the model was trained on",
            config.features,
        )
    pipeline = joblib.load(Path(config.model_dir) / PREPROCESS)
    X = pipeline.transform(as_frame(joined))
    selection = read_selection(config.model_dir, meta)
    meta = {**meta, "version": published_version(config.model_dir)}
    if not meta.get("hierarchical_note") and selection.get("hierarchical_note"):
        meta["hierarchical_note"] = selection["hierarchical_note"]
    path = build_report(
        X,
        meta["model_features"],
        joined["segment"].to_numpy(),
        meta,
        selection,
        config.output,
        sample_size=config.sample_size,
    )
    console.say(f"report written to {path}")
    return path


def _new_run(work: Path) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    run, suffix = work / stamp, 1
    while run.exists():
        suffix += 1
        run = work / f"{stamp}-{suffix}"
    run.mkdir(parents=True)
    return run


def retrain(config: RetrainConfig, engine: Engine, pseudonym_key: bytes, console=CONSOLE) -> Path:
    """The weekly job: export, features, select, train, publish, report, in a new run
    directory of the workdir that `latest` then points to; ids follow the previous run."""
    with engine.session():  # one Spark session for select and train
        return _retrain(config, engine, pseudonym_key, console)


def _retrain(config: RetrainConfig, engine: Engine, pseudonym_key: bytes, console) -> Path:
    work = Path(config.workdir)
    run = _new_run(work)
    latest = work / "latest"
    previous = str((latest / "model").resolve()) if (latest / "model").exists() else None
    events = str(config.events)
    if not events.endswith((".csv", ".parquet")):
        events = str(run / "events.parquet")
        export_events(config.events, events, pseudonym_key, console)
    features, model = str(run / "features.parquet"), str(run / "model")
    selection = str(run / "selection.json")
    make_features(
        FeaturesConfig(config.transactions, events, features, config.as_of, config.columns),
        pseudonym_key,
        console,
    )
    select_model(
        SelectConfig(
            features,
            selection,
            sample=config.sample,
            k_max=config.k_max,
            algorithms=config.algorithms,
            min_share=config.min_share,
        ),
        engine,
        console,
    )
    train_model(
        TrainConfig(
            features,
            model,
            selection,
            min_share=config.min_share,
            labels=config.labels,
            previous=previous,
        ),
        engine,
        console,
    )
    if config.publish:
        publish_model(PublishConfig(model, config.keep), config.redis, console)
    report_model(
        ReportConfig(features, model, str(run / "report.html"), config.report_sample), console
    )
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(run.resolve())
    console.say(f"retrain finished: {run}")
    return run
