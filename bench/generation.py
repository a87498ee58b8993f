"""`make bench-generation`: how fast generated answers are, per packaged model, on this machine.

    latency     first token (streamed) and whole answer, p50/p95/p99, over distinct prompts
                (shoppers x intents x categories), the answer cache off
    budget      share of those answers later than the web budget (endpoints.yml): the turns
                that would fall back to the template for time
    memory      resident memory of the model server with the model loaded
    real stack  "can you recommend a phone?" through Rasa and the action server: template,
                generated (PZ_GENERATOR_ENABLED=1, the local model server, the answer cache
                on as deployed) and uncached (cache_size 0: every turn asks the model), one
                at a time in alternating rounds; ratios of p50/p95 to the template turn

Writes bench/results/generation.json.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp
import requests

from bench.common import percentile, write_result
from bench.eval_generation import shoppers
from bench.turns import seed_users
from core.products import load_products
from experiments.policy import ArmChooser
from generation.client import Generator
from generation.config import GeneratorConfig, load_generator_config
from generation.server import ModelServer
from personalization.responder import Ask, Responder, Turn, writing_request
from responses.cues import Cues
from tests.conftest import shipped_engine
from tests.servers import (
    ROOT,
    VAR,
    RedisServer,
    action_server,
    free_port,
    rasa_server,
    write_endpoints,
)

MODELS = ("smollm2-135m", "gemma3-270m")


def stats(values_ms: list[float]) -> dict[str, float]:
    return {f"p{q}": round(percentile(values_ms, q), 1) for q in (50, 95, 99)}


async def stream_once(http: aiohttp.ClientSession, url: str, body: dict) -> tuple[float, float]:
    """(first token, whole stream) in milliseconds, through the streaming API."""
    start = time.perf_counter()
    first = None
    async with http.post(f"{url}/chat/completions", json={**body, "stream": True}) as resp:
        async for line in resp.content:
            if first is None and line.startswith(b"data: {") and b'"content"' in line:
                first = time.perf_counter()
    end = time.perf_counter()
    return ((first or end) - start) * 1000, (end - start) * 1000


async def latencies(model: str, url: str, rounds: int) -> dict:
    names = tuple(p.name for p in load_products().products)
    generator = Generator(GeneratorConfig(url, model, cache_size=0), names)
    engine = shipped_engine()
    responder = Responder(engine, ArmChooser(None, None))
    bodies = []
    for persona, intent, category, daypart in shoppers():
        cues = Cues(persona=persona, time_of_day=daypart, channel="web", device="mobile")
        reply = await responder.reply(Ask(intent, category=category), Turn("bench", cues))
        if reply.rendered.products:
            request = writing_request(intent, reply, cues, engine.products)
            bodies.append((generator.body(request), len(request.facts[:3])))
    first, whole = [], []
    async with aiohttp.ClientSession() as http:
        await stream_once(http, url, bodies[0][0])  # load the model, fill the prompt cache
        for _ in range(rounds):
            for body, n in bodies:
                first.append((await stream_once(http, url, body))[0])
                start = time.perf_counter()  # what a turn waits for: until the last reason
                await generator.complete(body, n)
                whole.append((time.perf_counter() - start) * 1000)
    await generator.close()
    budget_ms = GeneratorConfig(url, model).budgets_ms["web"]
    return {
        "answers": len(whole),
        "first_token_ms": stats(first),
        "whole_answer_ms": stats(whole),
        "web_budget_ms": budget_ms,
        "over_web_budget_share": round(sum(w > budget_ms for w in whole) / len(whole), 3),
    }


async def turns(rasa: dict[str, str], senders: dict[str, list[str]], rounds: int) -> dict:
    timings: dict[str, list[float]] = {kind: [] for kind in rasa}
    async with aiohttp.ClientSession() as http:
        for _ in range(rounds):
            for kind, url in rasa.items():
                for sender in senders[kind]:
                    body = {"sender": sender, "message": "can you recommend a phone?"}
                    start = time.perf_counter()
                    async with http.post(f"{url}/webhooks/rest/webhook", json=body) as resp:
                        messages = await resp.json()
                    timings[kind].append((time.perf_counter() - start) * 1000)
                    assert messages, f"no answer from the {kind} stack"
    out: dict = {kind: stats(values) for kind, values in timings.items()}
    for kind in ("generated", "uncached"):
        out[f"{kind}_ratio_p50"] = round(out[kind]["p50"] / out["template"]["p50"], 2)
        out[f"{kind}_ratio_p95"] = round(out[kind]["p95"] / out["template"]["p95"], 2)
    return out


def real_stack(model_url: str, users: int, rounds: int) -> dict:
    redis = RedisServer("bench-generation").start()
    services = []
    try:
        rasa, health = {}, {}
        for kind in ("template", "generated", "uncached"):
            actions_port, rasa_port = free_port(), free_port()
            endpoints = write_endpoints(
                VAR / f"bench-gen-{kind}" / "endpoints.yml", actions_port, redis
            )
            text = endpoints.read_text().replace("http://127.0.0.1:8081/v1", model_url)
            if kind == "uncached":  # every turn asks the model
                text = text.replace("  cache_size: 512", "  cache_size: 0")
            endpoints.write_text(text)
            env = {"PZ_ENDPOINTS_FILE": str(endpoints)}
            if kind != "template":
                env["PZ_GENERATOR_ENABLED"] = "1"
            service = action_server(actions_port, redis.url, name=f"bench-gen-actions-{kind}")
            service.env.update(env)
            services.append(service.start(60))
            services.append(
                rasa_server(rasa_port, endpoints, name=f"bench-gen-rasa-{kind}").start(300)
            )
            rasa[kind] = f"http://127.0.0.1:{rasa_port}"
            if kind != "template":
                health[kind] = actions_port
        senders = {k: asyncio.run(seed_users(redis.url, f"gen_{k}", users)) for k in rasa}
        result = asyncio.run(turns(rasa, senders, rounds))
        for kind, port in health.items():  # why turns were or were not generated
            outcomes = requests.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
            outcomes = outcomes.get("generator", {})
            result[f"{kind}_outcomes"] = outcomes
            total = sum(outcomes.values()) or 1
            done = outcomes.get("generated", 0) + outcomes.get("cached", 0)
            result[f"{kind}_share"] = round(done / total, 3)
        return result
    finally:
        for service in reversed(services):
            service.stop()
        redis.destroy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--rounds", type=int, default=2, help="passes over the prompts")
    parser.add_argument("--users", type=int, default=20, help="users per stack (real stack)")
    args = parser.parse_args(argv)
    assert load_generator_config(ROOT / "endpoints.yml", enabled=True) is not None
    payload: dict = {"command": "make bench-generation", "models": {}}
    for model in args.models:
        server = ModelServer(free_port(), (model,)).start()
        try:
            figures = asyncio.run(latencies(model, server.url, args.rounds))
            figures["server_rss_mb"] = round(server.rss_mb() or 0)
            figures["start_s"] = round(server.started_s or 0, 2)
            if model == MODELS[0]:
                payload["real_stack"] = real_stack(server.url, args.users, args.rounds)
        finally:
            server.stop()
        payload["models"][model] = figures
        print(
            f"{model}: first token p50/p95/p99 {figures['first_token_ms']}, whole answer "
            f"{figures['whole_answer_ms']}, over the web budget "
            f"{figures['over_web_budget_share']:.0%}, server {figures['server_rss_mb']} MB, "
            f"start {figures['start_s']} s"
        )
    stack = payload["real_stack"]
    for kind in ("generated", "uncached"):
        print(
            f"real stack, {kind} vs template turn: p50 {stack[f'{kind}_ratio_p50']}x, p95 "
            f"{stack[f'{kind}_ratio_p95']}x ({stack[kind]} vs {stack['template']} ms); "
            f"{stack[f'{kind}_share']:.0%} written by the model"
        )
    path = write_result("generation", payload)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
