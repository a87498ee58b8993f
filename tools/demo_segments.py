"""The segment model `make run` publishes: trained on a generated shop history
(segmentation/shop_history.py) through the real pipeline (export, features, select, train,
publish, report), so the demo users are in segments because of what they did.

    voltmart-demo-segments [--shoppers N] [--seed S] [--workdir DIR] [--force]
    voltmart-demo-segments --describe     which segment each demo user is in, and why

A warm start is a file read and two Redis reads: the stamp (<workdir>/trained.json) holds
the history's fingerprint, the pseudonym key's id, the run and the version published from
it. While they hold and that model is active, nothing is done. When Redis has no active
version (a fresh Redis), the run's model is published again without training; a model
someone else published (`make retrain`, a rollback) is left active. Anything else (no
stamp, a corrupt one, another history or key, a missing model directory) retrains and
says why.
Redis is PZ_REDIS_URL in PZ_NAMESPACE, as the services read it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from core.demo import DEMO_USER_IDS
from core.files import replace_private
from core.pseudonyms import pseudonym
from core.redis_keys import UserKeys
from core.settings import Settings, SettingsError, command_settings
from privacy.keyring import service_pseudonym_key
from segmentation.config import PublishConfig, RedisTarget, RetrainConfig
from segmentation.errors import SegmentationError, first_line
from segmentation.pipeline import CONSOLE, Console, connect, publish_model
from segmentation.publish import Keys
from segmentation.shop_history import DEFAULT_SEED, DEFAULT_SHOPPERS, MIN_SHOPPERS, fingerprint

DEFAULT_WORKDIR = Path("var/segments/shop-history")
STAMP = "trained.json"
# Users in the report's scatter plots: t-SNE of 2,000 (the retrain default) would take most
# of a cold start.
REPORT_SAMPLE = 500
RUN_NAME = re.compile(r"\d{8}T\d{6}Z(-\d+)?")  # as segmentation/pipeline.py names runs
# feature -> (what a high value says, what a low one says), for the banner's "why"
WORDS = {
    "recency_days": ("last bought long ago", "bought recently"),
    "frequency": ("buys often", "rarely buys"),
    "monetary": ("spends a lot", "spends little"),
    "avg_order_value": ("big baskets", "small baskets"),
    "tenure_days": ("long-time customer", "recent customer"),
    "has_purchases": ("has bought", "has never bought"),
    "sessions": ("chats often", "chats rarely"),
    "messages_per_session": ("long chats", "short chats"),
    "session_duration_s": ("long sessions", "short sessions"),
    "share_recommendations": ("asks for suggestions", "rarely asks for suggestions"),
    "share_deals": ("asks about deals", "rarely asks about deals"),
    "share_new_arrivals": ("asks what's new", "rarely asks what's new"),
    "share_specs": ("asks about specs", "rarely asks about specs"),
    "sentiment": ("upbeat", "terse"),
    "share_night": ("chats at night", "rarely at night"),
    "share_morning": ("chats in the morning", "rarely in the morning"),
    "share_afternoon": ("chats in the afternoon", "rarely in the afternoon"),
    "share_evening": ("chats in the evening", "rarely in the evening"),
    "share_web": ("uses the web chat", "uses other channels"),
    "share_mobile": ("on mobile", "on desktop"),
    "has_conversations": ("has chatted", "never chatted"),
}


@dataclass(frozen=True)
class DemoOptions:
    workdir: Path = DEFAULT_WORKDIR
    shoppers: int = DEFAULT_SHOPPERS
    seed: int = DEFAULT_SEED
    force: bool = False  # retrain even when the stamp holds


@dataclass(frozen=True)
class Outcome:
    action: str  # "reused", "republished", "kept" (another version is active) or "trained"
    version: str  # the version trained from the history
    run: Path


def key_id(pseudonym_key: bytes) -> str:
    """Names the pseudonym key without revealing it: the published ids depend on the key."""
    return pseudonym("voltmart-demo-segments", pseudonym_key)


def read_stamp(path: Path) -> tuple[dict | None, str | None]:
    """(stamp, None), or (None, why it cannot be used)."""
    try:
        stamp = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"no trained model yet ({path} not found)"
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        return None, f"{path} is unreadable ({type(exc).__name__})"
    fields = ("fingerprint", "key_id", "run", "version")
    if not isinstance(stamp, dict) or not all(stamp.get(f) for f in fields):
        return None, f"{path} lacks {', '.join(fields)}"
    if not all(isinstance(stamp[f], str) for f in fields[1:]):
        return None, f"{path} has a non-text run, version or key id"
    return stamp, None


def write_stamp(path: Path, stamp: dict) -> None:
    """Atomically: a crash leaves the old stamp or the new one, never half of one."""
    replace_private(path, json.dumps(stamp, indent=2) + "\n")


def runs(workdir: Path) -> list[Path]:
    """The run directories retrains have left in the workdir."""
    if not workdir.is_dir():
        return []
    return sorted(p for p in workdir.iterdir() if p.is_dir() and RUN_NAME.fullmatch(p.name))


def _text(value) -> str | None:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _why_not_reuse(stamp, problem, wanted: dict, options: DemoOptions) -> str | None:
    if options.force:
        return "--force"
    if problem:
        return problem
    if stamp["fingerprint"] != wanted["fingerprint"]:
        return f"the shop history changed ({stamp['fingerprint']} -> {wanted['fingerprint']})"
    if stamp["key_id"] != wanted["key_id"]:
        return "the pseudonym key changed, so the published ids would not match"
    if not (Path(stamp["run"]) / "model" / "model.json").is_file():
        return f"the model directory {Path(stamp['run']) / 'model'} is missing"
    if not (Path(stamp["run"]) / "model" / "card.json").is_file():
        return "the model was saved before model cards (with pickle)"
    return None


def ensure_model(
    options: DemoOptions, target: RedisTarget, pseudonym_key: bytes, console: Console = CONSOLE
) -> Outcome:
    """The history's model active in Redis: reused, republished or trained (see above)."""
    path = options.workdir / STAMP
    stamp, problem = read_stamp(path)
    wanted = {"fingerprint": fingerprint(options.shoppers, options.seed)}
    wanted["key_id"] = key_id(pseudonym_key)
    reason = _why_not_reuse(stamp, problem, wanted, options)
    if reason is None:
        return _reuse(Path(stamp["run"]), stamp["version"], path, wanted, target, console)
    console.say(f"training the segment model on the shop history: {reason}")
    return _train(options, target, pseudonym_key, wanted, console)


def _reuse(run: Path, version: str, path: Path, wanted: dict, target, console) -> Outcome:
    """The trained model's version active in Redis: as it is, or published again when Redis
    has no active version (a fresh Redis). One published by someone else stays active."""
    client, keys = connect(target), Keys(target.namespace)
    active = _text(client.get(keys.active))
    model = run / "model"
    if active and active != version:  # the stamp may name this model's version in another Redis
        if _text(client.hget(keys.meta(active), "model_dir")) == str(model.resolve()):
            write_stamp(path, {**wanted, "run": str(run), "version": active})
            version = active
    if active == version:
        return Outcome("reused", version, run)
    if active:
        back = (
            f"'segment rollback --to {version}'"
            if client.zscore(keys.versions, version) is not None
            else f"'segment publish {model}'"
        )
        console.say(f"leaving {active} active (published by someone else); {back} brings back "
                    "the shop-history model")  # fmt: skip
        return Outcome("kept", version, run)
    console.say(f"no segment version is active in Redis; publishing {model} again")
    summary = publish_model(PublishConfig(str(model)), target, console)
    write_stamp(path, {**wanted, "run": str(run), "version": summary["version"]})
    return Outcome("republished", summary["version"], run)


def _train(options, target, pseudonym_key: bytes, wanted: dict, console: Console) -> Outcome:
    from segmentation.engines import SklearnEngine
    from segmentation.model_dir import published_version
    from segmentation.pipeline import retrain
    from segmentation.shop_history import write_history

    options.workdir.mkdir(parents=True, exist_ok=True)
    (options.workdir / STAMP).unlink(missing_ok=True)  # no stale stamp if this fails midway
    files = write_history(options.workdir / "history", options.shoppers, options.seed)
    console.say(f"generated {options.shoppers} shoppers (seed {options.seed}) in {files.events}")
    config = RetrainConfig(
        str(files.events),
        str(files.transactions),
        target,
        str(options.workdir),
        report_sample=REPORT_SAMPLE,
    )
    run = retrain(config, SklearnEngine(), pseudonym_key, console).resolve()
    version = published_version(run / "model")
    write_stamp(options.workdir / STAMP, {**wanted, "run": str(run), "version": version})
    return Outcome("trained", version, run)


def _reason(top_features: list) -> str:
    parts = []
    for name, z in top_features[:3]:
        high, low = WORDS.get(name, (name, f"low {name}"))
        parts.append(f"{high if z >= 0 else low} ({z:+.1f})")
    return ", ".join(parts)


def describe(target: RedisTarget, pseudonym_key: bytes) -> list[str]:
    """One line per demo user: its segment in the active version (id, persona) and the
    segment's top features (z-scores against all shoppers) as the reason."""
    client, keys = connect(target), Keys(target.namespace)
    version = _text(client.get(keys.active))
    if not version:
        return ["no segment model is published; run 'make demo-segments'"]
    try:
        listed = json.loads(_text(client.hget(keys.meta(version), "segments")) or "[]")
        segments = {str(s["id"]): s for s in listed}
    except (ValueError, TypeError, KeyError) as exc:
        raise SegmentationError(f"version {version}: unreadable segment list ({exc})") from None
    users = UserKeys(target.namespace, pseudonym_key)
    lines = [f"Segments in the active model {version} (why: top features, z-scores):"]
    for user in DEMO_USER_IDS:
        segment_id = _text(client.hget(users.segment(user, version), users.subject(user)))
        found = segments.get(segment_id or "")
        if found is None:
            lines.append(f"  {user:16} not in this version (not trained on the shop history)")
            continue
        why = _reason(found.get("top_features") or [])
        lines.append(f"  {user:16} {segment_id:7} {found.get('persona', '?'):16} {why}")
    return lines


def _parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voltmart-demo-segments", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--shoppers", type=int, default=DEFAULT_SHOPPERS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--redis-url", default=settings.redis.url)
    parser.add_argument("--force", action="store_true", help="retrain even if the model holds")
    parser.add_argument(
        "--describe", action="store_true", help="print each demo user's segment and why"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    settings = command_settings()
    args = _parser(settings).parse_args(argv)
    if args.shoppers < MIN_SHOPPERS:
        print(f"Error: --shoppers must be at least {MIN_SHOPPERS}", file=sys.stderr)
        return 2
    target = RedisTarget(args.redis_url, settings.redis.namespace, settings.redis.cluster)
    started = time.perf_counter()
    try:
        key = service_pseudonym_key(settings)
        if args.describe:
            print("\n".join(describe(target, key)))
            return 0
        options = DemoOptions(args.workdir, args.shoppers, args.seed, args.force)
        outcome = ensure_model(options, target, key)
    except (SegmentationError, SettingsError, ValueError, OSError) as exc:
        print(f"Error: {first_line(exc)}", file=sys.stderr)
        return 1
    print(
        f"segment model {outcome.version} {outcome.action} (shop history: {args.shoppers} "
        f"shoppers, seed {args.seed}; {time.perf_counter() - started:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
