"""A chat turn through the gateway vs. straight to Rasa, measured side by side in one run.

Starts Redis, the action server, the Rasa server and the gateway on loopback,
then sends the same personalized question to both doors from an open-loop
client, in alternating rounds, each request as its own user (so per-user rate
limits, which are per person, do not apply to the benchmark's synthetic load).

    .venv/bin/python -m bench.gateway [--rate 10 --seconds 15 --rounds 4]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import sys

import aiohttp

from bench.common import alternating_rounds, write_result
from gateway.auth import TokenIssuer
from gateway.config import GatewayConfig
from tests.servers import (
    ROOT,
    VAR,
    RedisServer,
    action_server,
    free_port,
    gateway_server,
    rasa_server,
    write_endpoints,
)

MESSAGE = "can you recommend a phone?"


async def measure(
    rasa_url: str, gateway_url: str, secret: str, rate: float, seconds: float, rounds: int
) -> dict:
    issuer = TokenIssuer(GatewayConfig.from_env({"PZ_JWT_SECRET": secret}))
    counter = itertools.count()
    async with aiohttp.ClientSession() as session:

        async def direct() -> bool:
            body = {"sender": f"bench_{next(counter)}", "message": MESSAGE}
            async with session.post(rasa_url, json=body) as resp:
                return resp.status == 200 and bool(await resp.json())

        async def via_gateway() -> bool:
            token, _ = issuer.issue(f"bench_{next(counter)}", {"chat"})
            async with session.post(
                gateway_url, json={"message": MESSAGE}, headers={"Authorization": f"Bearer {token}"}
            ) as resp:
                data = await resp.json()
                return resp.status == 200 and not data.get("fallback")

        paths = {"direct": direct, "gateway": via_gateway}
        return await alternating_rounds(paths, rate, seconds, rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=10, help="chat turns per second")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    secret = secrets.token_hex(32)
    redis_server = RedisServer("bench-gw").start()
    actions_port, rasa_port, gw_port = free_port(), free_port(), free_port()
    endpoints = write_endpoints(VAR / "bench-gw-endpoints.yml", actions_port, redis_server)
    services = [action_server(actions_port, redis_server.url).start(timeout=90)]
    try:
        services.append(rasa_server(rasa_port, endpoints).start(timeout=240))
        services.append(
            gateway_server(
                gw_port, rasa_port, redis_server.url, VAR / "bench-secrets", PZ_JWT_SECRET=secret
            ).start(timeout=60)
        )
        result = asyncio.run(
            measure(
                f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook",
                f"http://127.0.0.1:{gw_port}/v1/chat",
                secret,
                args.rate,
                args.seconds,
                args.rounds,
            )
        )
    finally:
        for service in reversed(services):
            service.stop()
        redis_server.destroy()
    g, d = result["gateway"], result["direct"]
    ratios = {k: round(g[k] / d[k], 3) for k in ("p50_ms", "p95_ms", "p99_ms")}
    met = ratios["p50_ms"] <= 1.15 and ratios["p99_ms"] <= 1.15
    print(
        f"chat turn ({MESSAGE!r}) at {args.rate:.0f}/s, {args.rounds} x {args.seconds:.0f} s "
        "rounds per door (open loop, loopback)"
    )
    print(f"{'':22}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'req/s':>8}{'errors':>8}")
    for name, s in (("through the gateway", g), ("straight to Rasa", d)):
        print(
            f"{name:22}{s['p50_ms']:9.1f}{s['p95_ms']:9.1f}{s['p99_ms']:9.1f}"
            f"{s['throughput_rps']:8.1f}{s['errors']:8d}"
        )
    print(f"{'ratio':22}{ratios['p50_ms']:9.2f}{ratios['p95_ms']:9.2f}{ratios['p99_ms']:9.2f}")
    print(f"target p50 and p99 ratio <= 1.15: {'met' if met else 'NOT met'}")
    path = write_result(
        "gateway",
        {
            "command": "python -m bench.gateway",
            "rate": args.rate,
            "gateway": g,
            "direct": d,
            "ratio": ratios,
            "target": {"ratio_max": 1.15, "met": met},
        },
    )
    print(f"written to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
