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
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
from segmentation.progress import Progress, bars, steps, write


def _stderr(message: str) -> None:
    write(message)  # tqdm.write: a line between progress bars


def _stdout(message: str) -> None:
    print(message, flush=True)


@dataclass(frozen=True)
class Console:
    say: Callable[[str], None] = _stderr  # notes on progress (off with --quiet)
    show: Callable[[str], None] = _stdout  # results a script reads
    warn: Callable[[str], None] = _stderr  # warnings about the data: always shown
    progress: Progress = field(default_factory=bars)  # progress bars (segmentation/progress.py)


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

    with console.progress("export", unit="records") as bar:
        path, rows = export(source, output, pseudonym_key, on_record=bar.update)
    console.say(f"exported {rows} user messages to {path} (user ids pseudonymized)")
    return path


def make_features(config: FeaturesConfig, pseudonym_key: bytes, console=CONSOLE) -> Path:
    from core.pseudonyms import pseudonymize_frame
    from segmentation.card_data import record_sources
    from segmentation.features import build_features, read_events
    from segmentation.tables import write_table
    from segmentation.transactions import load_transactions

    columns = config.columns
    with steps(console.progress, "features", 4) as phase:
        phase("reading transactions")
        # CRM ids and exported ids meet as pseudonyms; ids that already are ones are kept.
        # Either source may be missing: its side of the features is then empty.
        transactions = events = None
        if config.transactions:
            loaded = load_transactions(
                config.transactions,
                user_col=columns.user,
                time_col=columns.time,
                amount_col=columns.amount,
                category_col=columns.category,
                order_col=columns.order,
            )
            if loaded.warning():
                console.warn(loaded.warning())
            transactions = pseudonymize_frame(loaded.frame, "user_id", pseudonym_key)
        phase("reading events")
        if config.events:
            events = pseudonymize_frame(read_events(config.events), "user_id", pseudonym_key)
        phase("building features")
        features, as_of = build_features(transactions, events, config.as_of)
        phase("writing")
        path = write_table(features, config.output)
        sources = (config.transactions, transactions), (config.events, events)
        record_sources(path, *sources, as_of, len(features))  # for the model card
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
    fits = {"gmm": len(covariance_types or engine.default_covariance_types)}
    total = (config.k_max - config.k_min + 1) * sum(fits.get(a, 1) for a in algorithms)
    with console.progress("select", total=total, unit="candidates") as bar:
        swept = engine.sweep(
            config, algorithms, covariance_types, on_candidate=lambda _: bar.update(1)
        )
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
    from segmentation.card import write_model_card
    from segmentation.labels import load_labels_file
    from segmentation.model_dir import copy_selection, load_previous

    choice = chosen_model(config)
    engine.check_train(choice, console.warn)
    previous = load_previous(config.previous)
    labels = load_labels_file(config.labels) if config.labels else None
    with steps(console.progress, "train", engine.train_phases) as phase:
        meta = engine.train(config, choice, previous, labels, phase)
    out = Path(config.output)
    if config.selection:
        copy_selection(config.selection, out)
    write_model_card(out, config.features, previous)
    sizes = ", ".join(f"{s['id']}={s['persona']} ({s['share']:.0%})" for s in meta["segments"])
    console.say(f"trained {choice.algorithm} k={choice.k} on {meta['n_users']} users: {sizes}")
    for merge in meta["merges"]:
        console.say(f"merged {merge['merged']} into {merge['into']}")
    console.say(f"model written to {out}")
    return meta


def publish_model(config: PublishConfig, target: RedisTarget, console=CONSOLE) -> dict:
    """A new version of the model's assignments in Redis, activated; the publish summary."""
    from core.redis_keys import BUCKETS
    from segmentation.card import render, write_card
    from segmentation.model_dir import load_model_dir, write_published
    from segmentation.publish import CHUNK_BUCKETS, Keys, audit_record, new_version_id, publish

    meta, assignments, spec = load_model_dir(config.model_dir)
    version = new_version_id()
    card = render(config.model_dir, version)  # refuses a folder trained before model cards
    client = connect(target)
    started = time.perf_counter()
    with console.progress("publish", total=-(-BUCKETS // CHUNK_BUCKETS), unit="chunks") as bar:
        summary = publish(
            client,
            assignments["user_id"].tolist(),
            assignments["segment"].tolist(),
            audit_record(meta, config.model_dir, card),
            spec,
            Keys(target.namespace),
            keep=config.keep,
            version=version,
            on_chunk=lambda _: bar.update(1),
            by=config.by,
        )
    elapsed = time.perf_counter() - started
    write_published(config.model_dir, summary)
    write_card(config.model_dir, version)
    notes = [f"published {summary['version']}: {summary['users']} users in {elapsed:.1f} s"]
    if summary["cleaned_stale"]:
        notes.append("removed stale " + ", ".join(summary["cleaned_stale"]))
    if summary["retired"]:
        notes.append("retired " + ", ".join(summary["retired"]))
    console.say("; ".join(notes))
    console.show(summary["version"])
    return summary


def audit_log(target: RedisTarget, version: str | None, as_json: bool, console=CONSOLE) -> None:
    """Print the audit log (a table, or JSON), or one version's model card."""
    from segmentation.audit_log import card_of, read_log, table
    from segmentation.publish import Keys

    keys = Keys(target.namespace)
    client = connect(target)
    entries = read_log(client, keys.audit)
    if version:
        console.show(card_of(entries, version, client.zscore(keys.versions, version) is not None))
    elif as_json:
        console.show(json.dumps(entries, indent=2))
    elif not entries:
        console.say("the audit log is empty: nothing was published yet")
    else:
        console.show("\n".join(table(entries)))


def report_model(config: ReportConfig, console=CONSOLE) -> Path:
    """The HTML report of a model directory, on the features it was trained on."""
    from segmentation.card import render
    from segmentation.fairness import read_audit
    from segmentation.features import read_feature_table
    from segmentation.model_dir import (
        load_fitted,
        load_model_dir,
        published_version,
        read_selection,
    )
    from segmentation.preprocess import as_frame
    from segmentation.report import build_report

    with steps(console.progress, "report", 2) as phase:
        phase("reading")
        meta, assignments, _ = load_model_dir(config.model_dir)
        features = read_feature_table(config.features)
        joined = features.merge(assignments[["user_id", "segment"]], on="user_id", how="inner")
        if joined.empty:
            raise InputError(
                "no user of the features table is in the model's assignments; "
                "pass the features the model was trained on",
                config.features,
            )
        pipeline = load_fitted(config.model_dir)
        X = pipeline.transform(as_frame(joined))
        selection = read_selection(config.model_dir, meta)
        meta = {
            **meta,
            "version": published_version(config.model_dir),
            "card": render(config.model_dir),
            "fairness": read_audit(config.model_dir),
        }
        if not meta.get("hierarchical_note") and selection.get("hierarchical_note"):
            meta["hierarchical_note"] = selection["hierarchical_note"]
        phase("drawing")
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
    events = config.events and str(config.events)
    if events and not events.endswith((".csv", ".parquet")):
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
    from segmentation.fairness import audit_before_publish

    refused = audit_before_publish(config, features, model, events, pseudonym_key, console)
    if config.publish and not refused:
        publish_model(PublishConfig(model, config.keep, config.by), config.redis, console)
    report_model(
        ReportConfig(features, model, str(run / "report.html"), config.report_sample), console
    )
    if refused:  # the run stays for the analyst; `latest` keeps the last published one
        raise refused
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(run.resolve())
    console.say(f"retrain finished: {run}")
    return run
