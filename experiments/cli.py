"""voltmart-experiments (python -m experiments): the experiments report, and demo traffic.

    voltmart-experiments report [--redis-url URL] [--namespace pz]
        [--experiments experiments/experiments.yml] [--out var/reports/experiments.html]
        [--json PATH]
    voltmart-experiments simulate-traffic --users 4000 [--seed 0]

`simulate-traffic` writes synthetic exposures, conversions, decisions,
feedback, survey scores and engagement through the real key schema (the same
stores the action server uses), with different true conversion rates per variant, so an analyst can
see a complete report on a fresh `make run`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import numpy as np
import redis
import redis.asyncio as aioredis

from core.settings import command_settings
from core.urls import redact_url
from experiments.config import ExperimentConfigError, load_experiments
from experiments.reporting import report, to_html, to_json, to_text


def _fail(message: str) -> int:
    print(f"Error: {message}", file=sys.stderr)
    return 2


def cmd_report(args: argparse.Namespace) -> int:
    try:
        specs = load_experiments(args.experiments)
    except ExperimentConfigError as exc:
        return _fail(str(exc))
    client = redis.Redis.from_url(args.redis_url, socket_timeout=10, socket_connect_timeout=3)
    try:
        data = report(client, args.namespace, specs)
    except redis.RedisError as exc:
        where = redact_url(args.redis_url)
        return _fail(f"cannot read Redis at {where} ({exc}); is `make run` up?")
    finally:
        client.close()
    print(to_text(data))
    out = Path(args.out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(to_html(data), encoding="utf-8")
        print(f"HTML report: {out}")
        if args.json:
            Path(args.json).write_text(to_json(data) + "\n", encoding="utf-8")
            print(f"JSON: {args.json}")
    except OSError as exc:
        return _fail(f"cannot write {exc.filename} ({exc.strerror}); pass a writable --out/--json")
    return 0


async def _simulate(url: str, namespace: str, specs, users: int, seed: int) -> int:
    from experiments.decisions import Decision, DecisionStore
    from experiments.exposures import ExposureStore
    from experiments.surveys import SurveyStore

    rng = np.random.default_rng(seed)
    client = aioredis.Redis.from_url(url)
    exposures, decisions = ExposureStore(client, namespace), DecisionStore(client, namespace)
    surveys = SurveyStore(client, namespace)
    written = 0
    try:
        for spec in specs.values():
            personas = spec.experiment.personas or ("default",)
            # the first variant converts at 10%, each later one 3 points better
            rates = {v: 0.10 + 0.03 * i for i, v in enumerate(spec.experiment.variants)}
            for i in range(users):
                user, persona = f"sim_{spec.key}_{i}", personas[i % len(personas)]
                exposed = await exposures.expose(spec, user, persona)
                if exposed is None:
                    continue
                arm = exposed[0]
                decision = Decision(
                    user,
                    persona,
                    spec.response or "recommend",
                    f"{spec.response or 'recommend'}.{persona}",
                    arm,
                    "experiment",
                    0.5,
                    spec.experiment.variants,
                    {spec.key: arm},
                )
                await decisions.record(decision)
                liked = rng.random() < rates[arm] * 3  # about a third of answers are rated
                if rng.random() < 0.33:
                    await decisions.feedback(decision.id, user, "up" if liked else "down")
                if rng.random() < rates[arm]:
                    await exposures.convert(spec, user)
                # engagement and the survey (guardrails): 1-3 messages, a third come back
                for _ in range(1 + int(rng.integers(0, 3))):
                    await exposures.messages({spec.key: arm})
                if rng.random() < 0.33:
                    await exposures.session_started(user, [spec.key], now=exposed[1] + 86400)
                if rng.random() < 0.2:
                    score = int(rng.integers(2, 6)) if liked else int(rng.integers(1, 5))
                    await surveys.score(decision.id, user, score, persona)
                written += 1
    finally:
        await client.close()
    return written


def cmd_simulate(args: argparse.Namespace) -> int:
    if args.users <= 0 or args.users > 1_000_000:
        return _fail("--users must be between 1 and 1,000,000")
    try:
        specs = load_experiments(args.experiments)
    except ExperimentConfigError as exc:
        return _fail(str(exc))
    try:
        n = asyncio.run(_simulate(args.redis_url, args.namespace, specs, args.users, args.seed))
    except (redis.RedisError, OSError) as exc:
        where = redact_url(args.redis_url)
        return _fail(f"cannot write to Redis at {where} ({exc}); is `make run` up?")
    print(f"wrote {n} simulated exposures with decisions, feedback and conversions")
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = command_settings()
    parser = argparse.ArgumentParser(prog="voltmart-experiments", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("report", "simulate-traffic"):
        p = sub.add_parser(name)
        p.add_argument("--redis-url", default=settings.redis.url)
        p.add_argument("--namespace", default=settings.redis.namespace)
        p.add_argument("--experiments", default=str(settings.paths.experiments))
        if name == "report":
            p.add_argument("--out", default="var/reports/experiments.html")
            p.add_argument("--json")
        else:
            p.add_argument("--users", type=int, default=4000)
            p.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    return cmd_report(args) if args.command == "report" else cmd_simulate(args)


if __name__ == "__main__":
    sys.exit(main())
