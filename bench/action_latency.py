"""Action-server latency: the personalized recommendation vs. a no-op action, one run.

Both actions get the same realistic request (the tracker of a short
conversation plus the full domain, as the Rasa server sends them; half the
users are in a published segment version, half have only a profile) from an
open-loop client at a fixed rate, in alternating rounds so drift hits both.

    make bench            # or: .venv/bin/python -m bench.action_latency --rate 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import aiohttp
import redis
import yaml

from bench.common import open_loop, summary, write_result
from core.demo import DEMO_PERSONAS
from core.redis_keys import UserKeys
from privacy.consent import GRANTED, consent_record
from privacy.keyring import DEFAULT_SECRETS_DIR, load_pseudonym_key
from segmentation.publish import publish
from tests.servers import ACTION_SECRET, PSEUDONYM_KEY, ROOT, RedisServer, action_server, free_port

HEADERS = {"Content-Type": "application/json", "X-PZ-Action-Token": ACTION_SECRET}
PERSONALIZED = "action_recommend_products"
BASELINE = "action_noop"


def action_call(action: str, sender: str, domain: dict) -> dict:
    events = [
        {"event": "action", "name": "action_session_start", "timestamp": 1.0},
        {"event": "session_started", "timestamp": 1.1},
        {"event": "slot", "name": "segment", "value": "default", "timestamp": 1.2},
        {"event": "action", "name": "action_listen", "timestamp": 1.3},
        {
            "event": "user",
            "text": "hi",
            "timestamp": 2.0,
            "parse_data": {"intent": {"name": "greet", "confidence": 0.99}, "entities": []},
        },
        {"event": "action", "name": "utter_greet", "timestamp": 2.1},
        {"event": "bot", "text": "Hi! How can I help you today?", "timestamp": 2.2},
        {"event": "action", "name": "action_listen", "timestamp": 2.3},
        {
            "event": "user",
            "text": "can you recommend a phone?",
            "timestamp": 3.0,
            "parse_data": {
                "intent": {"name": "ask_recommendation", "confidence": 0.97},
                "entities": [{"entity": "product_category", "value": "smartphones"}],
            },
        },
        {"event": "slot", "name": "product_category", "value": "smartphones", "timestamp": 3.1},
    ]
    tracker = {
        "sender_id": sender,
        "slots": {"segment": "default", "product_category": "smartphones", "product": None},
        "latest_message": events[8]["parse_data"] | {"text": events[8]["text"]},
        "events": events,
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }
    return {
        "next_action": action,
        "sender_id": sender,
        "tracker": tracker,
        "domain": domain,
        "version": "3.6.21",
    }


async def measure(url: str, senders: list[str], rate: float, seconds: float, rounds: int) -> dict:
    domain = yaml.safe_load((ROOT / "domain.yml").read_text())
    bodies = {
        a: [json.dumps(action_call(a, s, domain)).encode() for s in senders]
        for a in (PERSONALIZED, BASELINE)
    }
    connector = aiohttp.TCPConnector(limit=256)
    latencies: dict[str, list[float]] = {PERSONALIZED: [], BASELINE: []}
    errors = {PERSONALIZED: 0, BASELINE: 0}
    durations = {PERSONALIZED: 0.0, BASELINE: 0.0}
    async with aiohttp.ClientSession(connector=connector) as session:

        async def sender_for(action: str):
            counter = iter(range(10**9))

            async def send() -> bool:
                body = bodies[action][next(counter) % len(senders)]
                async with session.post(url, data=body, headers=HEADERS) as resp:
                    payload = await resp.read()
                    return resp.status == 200 and (action == BASELINE or b"responses" in payload)

            return send

        for action in (PERSONALIZED, BASELINE):  # warm-up: connections, caches, JIT-free paths
            await open_loop(await sender_for(action), rate, 2)
        for r in range(rounds):
            order = (PERSONALIZED, BASELINE) if r % 2 == 0 else (BASELINE, PERSONALIZED)
            for action in order:
                lat, err, dur = await open_loop(await sender_for(action), rate, seconds)
                latencies[action] += lat
                errors[action] += err
                durations[action] += dur
    return {a: summary(latencies[a], errors[a], durations[a]) for a in latencies}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200, help="requests per second")
    parser.add_argument("--seconds", type=float, default=10, help="length of one round")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per action")
    args = parser.parse_args(argv)

    redis_server = RedisServer("bench").start()
    client = redis.Redis.from_url(redis_server.url)
    senders = [f"bench_{i}" for i in range(1000)]
    segments = list(DEMO_PERSONAS.values())  # as overrides: the bench's own users
    # Keys and published ids as the action server names them (its pseudonym key), and every
    # user said yes to personalization.
    keys = UserKeys(
        "pz", load_pseudonym_key({"PZ_PSEUDONYM_KEY": PSEUDONYM_KEY}, DEFAULT_SECRETS_DIR)[0]
    )
    consent = consent_record(GRANTED, "bench")
    with client.pipeline() as pipe:
        for i, sender in enumerate(senders):
            pipe.hset(keys.profile(sender), mapping={"segment": segments[i % len(segments)]})
            pipe.hset(keys.consent(sender), mapping=consent)
        pipe.execute()
    # Half the users are in a published segment version, as after `segment publish`.
    personas = sorted(set(DEMO_PERSONAS.values()))
    publish(
        client,
        [keys.subject(sender) for sender in senders[::2]],
        [f"seg-0{i % 5 + 1}" for i in range(len(senders[::2]))],
        {"segments": [{"id": f"seg-0{i + 1}", "persona": p} for i, p in enumerate(personas)]},
        {"model": {}},
    )
    port = free_port()
    server = action_server(port, redis_server.url).start(timeout=90)
    try:
        result = asyncio.run(
            measure(
                f"http://127.0.0.1:{port}/webhook", senders, args.rate, args.seconds, args.rounds
            )
        )
    finally:
        server.stop()
        redis_server.destroy()

    p, b = result[PERSONALIZED], result[BASELINE]
    ratios = {k: round(p[k] / b[k], 3) for k in ("p50_ms", "p95_ms", "p99_ms")}
    target_met = ratios["p99_ms"] <= 1.25
    print(
        f"action server at {args.rate:.0f} req/s, {args.rounds} x {args.seconds:.0f} s rounds "
        f"per action (open loop, loopback)"
    )
    print(f"{'':28}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'req/s':>9}{'errors':>8}")
    for name, s in ((PERSONALIZED, p), (BASELINE, b)):
        print(
            f"{name:28}{s['p50_ms']:9.2f}{s['p95_ms']:9.2f}{s['p99_ms']:9.2f}"
            f"{s['throughput_rps']:9.1f}{s['errors']:8d}"
        )
    print(
        f"{'ratio personalized/no-op':28}{ratios['p50_ms']:9.2f}{ratios['p95_ms']:9.2f}"
        f"{ratios['p99_ms']:9.2f}"
    )
    print(f"target p99 ratio <= 1.25: {'met' if target_met else 'NOT met'}")
    path = write_result(
        "action_latency",
        {
            "command": "make bench",
            "rate_rps": args.rate,
            "round_seconds": args.seconds,
            "rounds": args.rounds,
            "personalized": p,
            "noop": b,
            "ratio": ratios,
            "target": {"p99_ratio_max": 1.25, "met": target_met},
        },
    )
    print(f"written to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
