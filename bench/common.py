"""Shared helpers for benchmarks: open-loop load, percentiles, result files."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(latencies_s: list[float], errors: int, duration_s: float) -> dict[str, float]:
    ms = [v * 1000 for v in latencies_s]
    return {
        "requests": len(ms) + errors,
        "errors": errors,
        "throughput_rps": round(len(ms) / duration_s, 1),
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


async def open_loop(
    send: Callable[[], Awaitable[bool]], rate: float, seconds: float
) -> tuple[list[float], int, float]:
    """Fire `send` at a fixed rate regardless of how fast answers come back.

    Latency is measured from each request's *scheduled* start, so a server that
    falls behind is charged for the queueing it causes (no coordinated omission).
    """
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    start = time.perf_counter()

    async def one(scheduled: float) -> None:
        nonlocal errors
        ok = await send()
        if ok:
            latencies.append(time.perf_counter() - scheduled)
        else:
            errors += 1

    tasks = []
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    return latencies, errors, time.perf_counter() - start


async def alternating_rounds(
    paths: dict[str, Callable[[], Awaitable[bool]]],
    rate: float,
    seconds: float,
    rounds: int,
    warmup_s: float = 3.0,
) -> dict[str, dict[str, float]]:
    """Warm every path up, then `rounds` open-loop rounds each, the order flipping every
    round so drift on the machine hits all paths alike; a summary per path."""
    results = {name: {"lat": [], "err": 0, "dur": 0.0} for name in paths}
    for send in paths.values():
        await open_loop(send, rate, warmup_s)
    for r in range(rounds):
        order = list(paths.items())
        for name, send in order if r % 2 == 0 else order[::-1]:
            lat, err, dur = await open_loop(send, rate, seconds)
            results[name]["lat"] += lat
            results[name]["err"] += err
            results[name]["dur"] += dur
    return {k: summary(v["lat"], v["err"], v["dur"]) for k, v in results.items()}


def machine() -> dict[str, object]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "commit": commit,
    }


def write_result(name: str, payload: dict[str, object]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    return path
