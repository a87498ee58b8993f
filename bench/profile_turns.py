"""Where a personalized turn spends its CPU: cProfile of the real Rasa server and action server.

Starts Redis, the action server and a Rasa server, warms them up, profiles the
event-loop thread of both servers while personalized turns are sent one at a
time (bench/_profhook/sitecustomize.py, switched by signals, so start-up is not
in the profile), and writes the biggest costs per turn to
bench/results/turn_profile.json (raw profiles: var/profiles/). `--stock`
profiles Rasa's unmodified action path instead.

    .venv/bin/python -m bench.profile_turns [--turns 300] [--stock]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import pstats
import signal
import sys
import time
from pathlib import Path

import aiohttp

from bench.common import write_result
from bench.turns import MESSAGES, answer_ok, seed_users
from core.settings import environment
from tests.servers import VAR, RedisServer, action_server, free_port, rasa_server, write_endpoints

HOOK = Path(__file__).parent / "_profhook"
PROFILES = VAR.parent / "profiles"


def top(path, count: int) -> dict[str, list[dict]]:
    stats = pstats.Stats(str(path), stream=io.StringIO())
    total = stats.total_tt
    rows = []
    for (file, line, func), (_cc, calls, tt, ct, _callers) in stats.stats.items():
        where = file.split("site-packages/")[-1].split("/work/main/")[-1]
        rows.append({"function": f"{where}:{line}({func})", "calls": calls, "tt": tt, "ct": ct})

    def fmt(r: dict) -> dict:
        return {
            "function": r["function"],
            "calls": r["calls"],
            "own_s": round(r["tt"], 3),
            "cumulative_s": round(r["ct"], 3),
        }

    by_cum = sorted(rows, key=lambda r: -r["ct"])
    by_own = sorted(rows, key=lambda r: -r["tt"])
    return {
        "total_s": round(total, 3),
        "cumulative": [fmt(r) for r in by_cum[:count]],
        "own": [fmt(r) for r in by_own[:count]],
    }


async def drive(url: str, senders: list[str], turns: int, kind: str) -> tuple[int, object]:
    """Send `turns` messages of this kind one at a time; (wrong answers, a sample answer)."""
    bad, sample = 0, None
    async with aiohttp.ClientSession() as http:
        for i in range(turns):
            body = {"sender": senders[i % len(senders)], "message": MESSAGES[kind]}
            async with http.post(f"{url}/webhooks/rest/webhook", json=body) as resp:
                sample = await resp.json()
                bad += not answer_ok(kind, sample)
    return bad, sample


def per_turn(stats: dict, turns: int) -> dict:
    """Milliseconds per turn instead of seconds per run."""
    out = {"total_ms_per_turn": round(stats["total_s"] * 1000 / turns, 2)}
    for key in ("cumulative", "own"):
        out[key] = [
            {
                "function": r["function"],
                "calls_per_turn": round(r["calls"] / turns, 1),
                "own_ms": round(r["own_s"] * 1000 / turns, 3),
                "cumulative_ms": round(r["cumulative_s"] * 1000 / turns, 3),
            }
            for r in stats[key]
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--stock", action="store_true", help="Rasa without rasa_ext speed-ups")
    parser.add_argument("--kind", choices=["personalized", "response_only"], default="personalized")
    args = parser.parse_args(argv)

    PROFILES.mkdir(parents=True, exist_ok=True)
    suffix = ("-stock" if args.stock else "") + (
        "-response-only" if args.kind != "personalized" else ""
    )
    names = (f"rasa{suffix}", f"actions{suffix}")
    for name in names:
        (PROFILES / f"{name}.prof").unlink(missing_ok=True)

    def hooked(name: str) -> dict[str, str]:
        inherited = environment().get("PYTHONPATH", "")
        path = os.pathsep.join(p for p in (str(HOOK), inherited) if p)
        env = {"PYTHONPATH": path, "PZ_PROFILE_OUT": str(PROFILES / f"{name}.prof")}
        return env | ({"PZ_RASA_SPEEDUPS": "0"} if args.stock else {})

    redis = RedisServer("bench-profile").start()
    actions_port, rasa_port = free_port(), free_port()
    endpoints = write_endpoints(VAR / "bench-profile" / "endpoints.yml", actions_port, redis)
    actions = action_server(actions_port, redis.url, name=names[1])
    actions.env |= hooked(names[1])
    rasa = rasa_server(rasa_port, endpoints, name=names[0], **hooked(names[0]))
    url = f"http://127.0.0.1:{rasa_port}"
    try:
        actions.start(60)
        rasa.start(300)
        senders = asyncio.run(seed_users(redis.url, "profile", args.users))
        asyncio.run(drive(url, senders, len(senders) * 2, args.kind))  # sessions start, caches warm
        for service in (rasa, actions):
            os.kill(service.proc.pid, signal.SIGUSR1)
        started = time.perf_counter()
        bad, sample = asyncio.run(drive(url, senders, args.turns, args.kind))
        wall = time.perf_counter() - started
        for service in (rasa, actions):
            os.kill(service.proc.pid, signal.SIGUSR2)
        deadline = time.time() + 30
        while time.time() < deadline and not all((PROFILES / f"{n}.prof").exists() for n in names):
            time.sleep(0.2)
        time.sleep(1.0)  # let the dump finish
    finally:
        rasa.stop()
        actions.stop()
        redis.destroy()

    result = {
        "kind": args.kind,
        "turns": args.turns,
        "stock": args.stock,
        "wrong_answers": bad,
        "wall_ms_per_turn": round(wall * 1000 / args.turns, 2),
    }
    print(f"{args.turns} turns, {result['wall_ms_per_turn']} ms each (wall), {bad} wrong answers")
    if bad:
        print(f"sample answer: {sample!r:.300}")
    for name in names:
        path = PROFILES / f"{name}.prof"
        if not path.exists():
            print(
                f"Error: {name} wrote no profile (see its log under var/pytest/)", file=sys.stderr
            )
            return 1
        result[name] = per_turn(top(path, args.top), args.turns)
        print(f"\n== {name}: {result[name]['total_ms_per_turn']} ms CPU per turn; by cumulative")
        print("  cum ms  own ms  calls  function")
        for row in result[name]["cumulative"][:30]:
            cum, own, calls = row["cumulative_ms"], row["own_ms"], row["calls_per_turn"]
            print(f"{cum:8.3f} {own:7.3f} {calls:6.1f}  {row['function']}")
    path = write_result(f"turn_profile{suffix}", result)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
