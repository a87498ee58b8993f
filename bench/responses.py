"""The response engine's cost, measured side by side in one run.

A. In process, against a real Redis: choosing and rendering a recommendation
   with contextual cues + experiment exposure + bandit + decision log
   (personalization.responder.Responder) vs. a fixed template lookup (a dict of
   finished texts). Target: the added p99 under 1 ms.
B. Over HTTP, against real Redis, action server and Rasa: a full personalized
   turn ("can you recommend a phone?": NLU, two custom actions) vs. a
   response-only turn ("are you a bot?": NLU and a domain response, no action server).

    .venv/bin/python -m bench.responses [--calls 3000 --rounds 4] [--skip-rasa]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time

import aiohttp
import numpy as np

from bench.common import alternating_rounds, percentile, write_result
from core.personas import PERSONAS
from core.products import load_products
from experiments.config import load_experiments
from experiments.decisions import DecisionStore
from experiments.exposures import ExposureStore
from experiments.policy import ArmChooser, load_bandit_settings
from personalization.responder import Ask, Responder, Turn
from personalization.store import ProfileStore
from responses.catalogue import load_catalogue
from responses.cues import Cues
from responses.engine import ResponseEngine
from tests.servers import (
    ROOT,
    VAR,
    RedisServer,
    action_server,
    free_port,
    rasa_server,
    write_endpoints,
)

EXPERIMENTS = ROOT / "experiments" / "experiments.yml"
ASKED = ("smartphones", "laptops", "headphones", "tablets")  # the categories the bench asks for


def stats(ms: list[float]) -> dict[str, float]:
    return {
        "calls": len(ms),
        "p50_ms": round(percentile(ms, 50), 4),
        "p95_ms": round(percentile(ms, 95), 4),
        "p99_ms": round(percentile(ms, 99), 4),
    }


async def engine_costs(redis_url: str, calls: int, rounds: int) -> dict[str, dict]:
    store = ProfileStore.from_url(redis_url, timeout=0.5, namespace="bench")
    chooser = ArmChooser(
        DecisionStore(store.client, "bench"),
        ExposureStore(store.client, "bench"),
        load_experiments(EXPERIMENTS),
        load_bandit_settings(EXPERIMENTS),
        np.random.default_rng(0),
    )
    engine = ResponseEngine(load_catalogue(), load_products())
    personas = list(PERSONAS)
    fixed = {  # the baseline: one finished text per (persona, category)
        (p, c): engine.render("recommend", engine.cues_with_facts(Cues(persona=p), c)).text
        for p in personas
        for c in ASKED
    }
    responder = Responder(engine, chooser, None, 0.5)
    cases = [
        (
            f"bench_user_{i}",
            Cues(persona=personas[i % len(personas)], time_of_day="evening", channel="web"),
            ASKED[i % len(ASKED)],
        )
        for i in range(1000)
    ]

    slots: dict[str, dict] = {}  # what each tracker's experiments slot holds after a turn

    async def ours(i: int) -> None:
        sender, cues, category = cases[i % len(cases)]
        ask = Ask("recommend", category, decision=True)
        turn = Turn(sender, cues, exposed=slots.get(sender, {}))
        reply = await responder.reply(ask, turn)
        if reply.choice.experiments:
            slots[sender] = reply.choice.experiments

    async def baseline(i: int) -> None:
        _, cues, category = cases[i % len(cases)]
        fixed[(cues.persona, category)]  # the lookup is the work

    async def render_only(i: int) -> None:
        _, cues, category = cases[i % len(cases)]
        engine.render("recommend", engine.cues_with_facts(cues, category))

    out: dict[str, list[float]] = {"ours": [], "baseline": [], "render_only": []}
    paths = {"ours": ours, "baseline": baseline, "render_only": render_only}
    counter = itertools.count()
    for fn in paths.values():  # warm-up
        for _ in range(300):
            await fn(next(counter))
    for r in range(rounds):
        order = list(paths.items())
        for name, fn in order if r % 2 == 0 else order[::-1]:
            for _ in range(calls):
                i = next(counter)
                start = time.perf_counter()
                await fn(i)
                out[name].append((time.perf_counter() - start) * 1000)
                await asyncio.sleep(0)  # let background writes run, as between real turns
        await chooser.decisions.flush()
    await store.close()
    return {name: stats(ms) for name, ms in out.items()}


async def turn_costs(rasa_url: str, rate: float, seconds: float, rounds: int) -> dict[str, dict]:
    counter = itertools.count()
    async with aiohttp.ClientSession() as session:

        def sender(message: str):
            async def send() -> bool:
                body = {"sender": f"bench_turn_{next(counter)}", "message": message}
                async with session.post(rasa_url, json=body) as resp:
                    return resp.status == 200 and bool(await resp.json())

            return send

        paths = {
            "personalized": sender("can you recommend a phone?"),
            "response_only": sender("are you a bot?"),
        }
        return await alternating_rounds(paths, rate, seconds, rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per path per round (A)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--rate", type=float, default=5, help="turns per second (B)")
    parser.add_argument("--seconds", type=float, default=15, help="seconds per round (B)")
    parser.add_argument("--skip-rasa", action="store_true", help="only part A")
    args = parser.parse_args(argv)
    redis_server = RedisServer("bench-responses").start()
    services = []
    try:
        engine = asyncio.run(engine_costs(redis_server.url, args.calls, args.rounds))
        turns = None
        if not args.skip_rasa:
            actions_port, rasa_port = free_port(), free_port()
            endpoints = write_endpoints(
                VAR / "bench-resp-endpoints.yml", actions_port, redis_server
            )
            services.append(action_server(actions_port, redis_server.url).start(timeout=90))
            services.append(rasa_server(rasa_port, endpoints).start(timeout=240))
            url = f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook"
            turns = asyncio.run(turn_costs(url, args.rate, args.seconds, args.rounds))
    finally:
        for service in reversed(services):
            service.stop()
        redis_server.destroy()

    o, b, r = engine["ours"], engine["baseline"], engine["render_only"]
    added = {k: round(o[k] - b[k], 4) for k in ("p50_ms", "p95_ms", "p99_ms")}
    met = added["p99_ms"] < 1.0
    print(f"A. choosing + rendering a recommendation, {args.rounds} x {args.calls} calls per path")
    print(f"{'':44}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for name, s in (
        ("cues + experiment + bandit + log + render", o),
        ("cues + render (no Redis)", r),
        ("fixed template lookup (baseline)", b),
    ):
        print(f"{name:44}{s['p50_ms']:9.3f}{s['p95_ms']:9.3f}{s['p99_ms']:9.3f}")
    a = added
    print(f"{'added cost vs baseline':44}{a['p50_ms']:9.3f}{a['p95_ms']:9.3f}{a['p99_ms']:9.3f}")
    ratio_a = {k: round(o[k] / b[k], 1) if b[k] else None for k in ("p50_ms", "p99_ms")}
    print(f"ratio ours / baseline: p50 {ratio_a['p50_ms']}x, p99 {ratio_a['p99_ms']}x")
    print(f"target added p99 < 1 ms: {'met' if met else 'NOT met'}")
    ratio_b = None
    if turns:
        p, q = turns["personalized"], turns["response_only"]
        ratio_b = {k: round(p[k] / q[k], 3) for k in ("p50_ms", "p95_ms", "p99_ms")}
        print()
        print(
            f"B. chat turns through Rasa at {args.rate:.0f}/s, "
            f"{args.rounds} x {args.seconds:.0f} s rounds"
        )
        print(f"{'':44}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
        for name, s in (("personalized turn (2 custom actions)", p), ("response-only turn", q)):
            print(
                f"{name:44}{s['p50_ms']:9.1f}{s['p95_ms']:9.1f}{s['p99_ms']:9.1f}{s['errors']:8d}"
            )
        print(
            f"{'ratio':44}{ratio_b['p50_ms']:9.2f}{ratio_b['p95_ms']:9.2f}{ratio_b['p99_ms']:9.2f}"
        )
    path = write_result(
        "responses",
        {
            "command": "python -m bench.responses",
            "engine": engine,
            "added_ms": added,
            "ratio_engine": ratio_a,
            "target": {"added_p99_ms_max": 1.0, "met": met},
            "turns": turns,
            "ratio_turns": ratio_b,
        },
    )
    print(f"written to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
