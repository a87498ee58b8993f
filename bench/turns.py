"""Whole turns through the real Rasa server and action server, in one run.

    response_only  "are you a bot?" -> utter_iamabot: no custom action
    personalized   "can you recommend a phone?" -> action_recommend_products (segment,
                   profile, experiment, decision log) on a Rasa server with rasa_ext's
                   speed-ups
    stock          the same personalized turn on a second Rasa server started with
                   PZ_RASA_SPEEDUPS=0: Rasa's unmodified custom-action path, with the same
                   number of Sanic workers as the tuned one

Each configuration of `--workers` (default: 1 and 2 Sanic workers) runs all three paths;
the tuned and the stock server always have the same workers, so the throughput ratio is
the speed-ups' and not the extra worker's.

Same model, Redis, action server and users for all three. Latency is taken one
message at a time (service time, no queueing), throughput with C users sending
back to back; both in alternating rounds so machine drift hits all paths alike.
Every answer is checked (non-empty, not the fallback, persona wording for the
personalized turns); a wrong answer counts as an error.

    make bench          # or: .venv/bin/python -m bench.turns --rounds 5 --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from bench.common import summary, write_result
from core.limits import TURN_FALLBACK_TEXT
from core.personas import PERSONAS
from personalization.store import ProfileStore
from privacy.consent import GRANTED, record_consent
from privacy.keyring import DEFAULT_SECRETS_DIR, load_pseudonym_key
from tests.servers import (
    PSEUDONYM_KEY,
    VAR,
    RedisServer,
    action_server,
    free_port,
    rasa_server,
    write_endpoints,
)

MESSAGES = {
    "response_only": "are you a bot?",
    "personalized": "can you recommend a phone?",
    "stock": "can you recommend a phone?",
}
SEGMENTED = [p for p in PERSONAS if p != "default"]

Send = Callable[[], Awaitable[bool]]


async def seed_users(redis_url: str, prefix: str, count: int) -> list[str]:
    """Users in every persona who said yes to personalization."""
    key = load_pseudonym_key({"PZ_PSEUDONYM_KEY": PSEUDONYM_KEY}, DEFAULT_SECRETS_DIR)[0]
    store = ProfileStore.from_url(redis_url, timeout=2.0, pseudonym_key=key)
    senders = [f"{prefix}_{i}" for i in range(count)]
    try:
        for sender, persona in zip(senders, itertools.cycle(SEGMENTED), strict=False):
            await store.put_profile(
                sender, {"segment": persona, "favourite_category": "smartphones"}
            )
            await record_consent(store.client, store.namespace, sender, GRANTED, "bench", key)
    finally:
        await store.close()
    return senders


def answer_ok(kind: str, messages: object) -> bool:
    if not isinstance(messages, list) or not messages:
        return False
    texts = [m.get("text") or "" for m in messages if isinstance(m, dict)]
    if not any(texts) or TURN_FALLBACK_TEXT in texts:
        return False
    if kind == "response_only":
        return len(messages) == 1
    # A recommendation lists products and offers thumbs up/down.
    return any("•" in t for t in texts) and any(m.get("buttons") for m in messages)


def sender_for(http: aiohttp.ClientSession, url: str, kind: str, senders: list[str]) -> Send:
    users = itertools.cycle(senders)
    body_text = MESSAGES[kind]

    async def send() -> bool:
        body = {"sender": next(users), "message": body_text}
        try:
            async with http.post(url, json=body) as resp:
                if resp.status != 200:
                    return False
                return answer_ok(kind, await resp.json())
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError):
            return False

    return send


async def one_at_a_time(send: Send, count: int) -> tuple[list[float], int, float]:
    latencies, errors, start = [], 0, time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        if await send():
            latencies.append(time.perf_counter() - t0)
        else:
            errors += 1
    return latencies, errors, time.perf_counter() - start


async def closed_loop(send: Send, users: int, seconds: float) -> tuple[list[float], int, float]:
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    stop = start + seconds

    async def user() -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            if await send():
                latencies.append(time.perf_counter() - t0)
            else:
                errors += 1

    await asyncio.gather(*(user() for _ in range(users)))
    return latencies, errors, time.perf_counter() - start


def tree_cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by these processes and their descendants
    (Sanic workers), from /proc: robust to other load on the machine, unlike latency."""
    stats: dict[int, tuple[int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    wanted, ticks, frontier = set(pids), 0, list(pids)
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _) in stats.items() if ppid == parent]
        frontier += [c for c in children if c not in wanted]
        wanted.update(children)
    ticks = sum(stats[pid][1] for pid in wanted if pid in stats)
    return ticks / os.sysconf("SC_CLK_TCK")


async def alternate(
    paths: dict[str, Send],
    rounds: int,
    run: Callable[[Send], Awaitable[tuple]],
    pids: dict[str, dict[str, list[int]]],
) -> dict[str, dict[str, float]]:
    """Summaries per path, with the CPU its servers spent per answered turn."""
    acc = {name: ([], 0, 0.0) for name in paths}
    cpu = {name: {server: 0.0 for server in pids[name]} for name in paths}
    order = list(paths)
    for r in range(rounds):
        for name in order if r % 2 == 0 else order[::-1]:
            before = {server: tree_cpu_s(p) for server, p in pids[name].items()}
            lat, err, dur = await run(paths[name])
            for server, p in pids[name].items():
                cpu[name][server] += tree_cpu_s(p) - before[server]
            old = acc[name]
            acc[name] = (old[0] + lat, old[1] + err, old[2] + dur)
    out = {}
    for name in paths:
        out[name] = summary(*acc[name])
        turns = max(1, len(acc[name][0]))
        for server, seconds in cpu[name].items():
            out[name][f"{server}_cpu_ms_per_turn"] = round(seconds * 1000 / turns, 2)
    return out


async def fallbacks(http: aiohttp.ClientSession, rasa_url: str) -> dict[str, int]:
    async with http.get(f"{rasa_url}/webhooks/rest/") as resp:
        return (await resp.json()).get("fallbacks", {})


async def measure(
    urls: dict[str, str],
    senders: dict[str, list[str]],
    pids: dict[str, dict[str, list[int]]],
    args,
) -> dict:
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as http:
        paths = {
            kind: sender_for(http, f"{urls[kind]}/webhooks/rest/webhook", kind, senders[kind])
            for kind in MESSAGES
        }
        for kind, send in paths.items():  # sessions start, caches and TF warm up
            for _ in range(len(senders[kind]) + 20):
                await send()
        latency = await alternate(
            paths, args.rounds, lambda send: one_at_a_time(send, args.messages), pids
        )
        throughput = await alternate(
            paths, 2, lambda send: closed_loop(send, args.concurrency, args.seconds), pids
        )
        seen = {name: await fallbacks(http, url) for name, url in urls.items()}
    return {"latency": latency, "throughput": throughput, "fallbacks": seen}


def ratios(result: dict) -> dict[str, float]:
    lat, thr = result["latency"], result["throughput"]
    base, ours = lat["response_only"], lat["personalized"]
    return {
        "personalized_vs_response_only_p50": round(ours["p50_ms"] / base["p50_ms"], 2),
        "personalized_vs_response_only_p99": round(ours["p99_ms"] / base["p99_ms"], 2),
        "personalized_vs_stock_throughput": round(
            thr["personalized"]["throughput_rps"] / thr["stock"]["throughput_rps"], 2
        ),
        "stock_vs_response_only_p50": round(lat["stock"]["p50_ms"] / base["p50_ms"], 2),
        "personalized_vs_response_only_rasa_cpu": round(
            ours["rasa_cpu_ms_per_turn"] / base["rasa_cpu_ms_per_turn"], 2
        ),
        "stock_vs_personalized_rasa_cpu": round(
            lat["stock"]["rasa_cpu_ms_per_turn"] / ours["rasa_cpu_ms_per_turn"], 2
        ),
    }


def tuned_env(args, workers: int) -> dict[str, str]:
    """How the tuned Rasa server runs: Sanic workers (the Redis lock store allows several)
    and TensorFlow threads per worker (Rasa's own settings)."""
    return {
        "SANIC_WORKERS": str(workers),
        "TF_INTER_OP_PARALLELISM_THREADS": str(args.tf_threads),
        "TF_INTRA_OP_PARALLELISM_THREADS": str(args.tf_threads),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="latency rounds per path")
    parser.add_argument("--messages", type=int, default=100, help="messages per latency round")
    parser.add_argument("--concurrency", type=int, default=8, help="users in the throughput phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="per throughput round")
    parser.add_argument(
        "--users", type=int, default=200, help="users per path (about five turns each)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1, 2],
        help="Sanic workers of both Rasa servers, one configuration per value",
    )
    parser.add_argument(
        "--tf-threads", type=int, default=1, help="TensorFlow threads per worker (tuned server)"
    )
    args = parser.parse_args(argv)
    if not (Path(__file__).parents[1] / "models").glob("*.tar.gz"):
        print("Error: no trained model in models/; run 'make train' first", file=sys.stderr)
        return 1

    configurations = {}
    for workers in args.workers:
        print(f"== {workers} Sanic worker(s) on both Rasa servers")
        result = run_configuration(args, workers)
        configurations[str(workers)] = result
        report(result, args)
    payload = {
        "configurations": configurations,
        "targets": {"p50_and_p99_within": 1.3, "throughput_vs_stock_at_least": 4.0},
        "command": "python -m bench.turns",
        "setup": vars(args) | {"messages": MESSAGES},
    }
    # The README's figures: the largest configuration (what `make run` would deploy).
    payload.update(configurations[str(max(args.workers))])
    path = write_result("turns", payload)
    print(f"wrote {path}")
    return 0


def run_configuration(args, workers: int) -> dict:
    """All three paths with `workers` Sanic workers on the tuned and the stock server."""
    redis = RedisServer("bench-turns").start()
    actions_port, fast_port, stock_port = free_port(), free_port(), free_port()
    endpoints = write_endpoints(VAR / "bench-turns" / "endpoints.yml", actions_port, redis)
    env = tuned_env(args, workers)
    services = []
    try:
        services.append(action_server(actions_port, redis.url, name="bench-actions").start(60))
        services.append(rasa_server(fast_port, endpoints, name="bench-rasa", **env).start(300))
        stock_env = {"PZ_RASA_SPEEDUPS": "0", "SANIC_WORKERS": str(workers)}
        services.append(
            rasa_server(stock_port, endpoints, name="bench-rasa-stock", **stock_env).start(300)
        )
        senders = {
            kind: asyncio.run(seed_users(redis.url, f"bench_{kind}", args.users))
            for kind in MESSAGES
        }
        fast, stock = f"http://127.0.0.1:{fast_port}", f"http://127.0.0.1:{stock_port}"
        urls = {"response_only": fast, "personalized": fast, "stock": stock}
        actions_pid, fast_pid, stock_pid = (svc.proc.pid for svc in services)
        pids = {
            "response_only": {"rasa": [fast_pid], "actions": [actions_pid]},
            "personalized": {"rasa": [fast_pid], "actions": [actions_pid]},
            "stock": {"rasa": [stock_pid], "actions": [actions_pid]},
        }
        result = asyncio.run(measure(urls, senders, pids, args))
    finally:
        for service in reversed(services):
            service.stop()
        redis.destroy()
    result["ratios"] = ratios(result)
    result["sanic_workers"] = workers
    result["tuned_env"] = env
    result["stock_env"] = stock_env
    return result


def report(result: dict, args) -> None:
    print(
        f"turn            p50 ms   p95 ms   p99 ms   msg/s (C={args.concurrency})"
        "  CPU ms/turn: Rasa  actions  errors"
    )
    for kind in MESSAGES:
        lat, thr = result["latency"][kind], result["throughput"][kind]
        print(
            f"{kind:14s} {lat['p50_ms']:7.1f}  {lat['p95_ms']:7.1f}  {lat['p99_ms']:7.1f}"
            f"   {thr['throughput_rps']:8.1f}            {lat['rasa_cpu_ms_per_turn']:6.1f}"
            f"  {lat['actions_cpu_ms_per_turn']:6.1f}   {lat['errors'] + thr['errors']}"
        )
    for name, value in result["ratios"].items():
        print(f"{name:40s} {value}")
    print(f"fallbacks: {result['fallbacks']}")


if __name__ == "__main__":
    sys.exit(main())
