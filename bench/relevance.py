"""Relevance by simulation: shoppers with known preferences chat with the real stack (Redis,
action server, Rasa); how many of the products recommended to them match what they want.

Each simulated shopper prefers a category, a price band and one thing (deals, specs,
simplicity or novelty). Their history is generated from that preference
(segmentation/synthetic.py: the planted behaviour of deal hunters, enthusiasts, casual
browsers, frequent buyers), a 12-segment model is trained on a shop history by the real
pipeline code, published to Redis, and each shopper is placed by its assigner; their own
orders (count, total) are in their profile. Then every shopper asks for their category
("can you recommend a laptop?") once in each arm, each arm with its own sender ids:

    segments       the published segment's traits and the shopper's facts (this project)
    personas       the same segment named by its nearest of the five fixed personas
                   (the profile's override), with the same facts: the old persona cap
    unpersonalized no consent: the answer everybody gets

A recommended product is a hit when it is in the shopper's category and price band and
has what they prefer (on deal; top half by price, the capable end; ease of use 4+; new).

    .venv/bin/python -m bench.relevance [--per-cell 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import sys

import aiohttp
import numpy as np
import redis
import redis.asyncio as aioredis

from bench.common import write_result
from core.products import Product, ProductCatalogue, load_products
from core.redis_keys import UserKeys
from core.settings import DEFAULT_NAMESPACE
from core.shopper import BAND_RANGES
from privacy.consent import GRANTED, record_consent
from privacy.keyring import DEFAULT_SECRETS_DIR, load_pseudonym_key
from tests.servers import (
    PSEUDONYM_KEY,
    ROOT,
    VAR,
    RedisServer,
    action_server,
    free_port,
    rasa_server,
    write_endpoints,
)

# Preference -> the planted behaviour that shows it (segmentation/synthetic.py PLANTED index).
LIKES = {"deals": 1, "specs": 2, "simplicity": 3, "novelty": 0}
ASK = {
    "smartphones": "can you recommend a phone?",
    "laptops": "can you recommend a laptop?",
    "headphones": "can you recommend some headphones?",
    "tablets": "can you recommend a tablet?",
}
BAND_ORDER = {"budget": 80.0, "mid": 400.0, "premium": 1300.0}  # euros per order
ARMS = ("segments", "personas", "unpersonalized")
LINE = re.compile(r"^• (.+?): ", re.MULTILINE)


def wants(p: Product, c: ProductCatalogue, category: str, band: str, like: str) -> bool:
    lo, hi = BAND_RANGES[band]
    if p.category != category or not lo <= p.deal_price <= hi:
        return False
    prices = sorted(q.price for q in c.in_category(category))
    return {
        "deals": p.on_deal,
        "specs": p.price >= prices[len(prices) // 2],
        "simplicity": p.ease_score >= 4,
        "novelty": c.is_new(p),
    }[like]


def shoppers(per_cell: int) -> list[dict]:
    cells = itertools.product(LIKES, ASK, BAND_ORDER, range(per_cell))
    return [
        {"id": f"sim{i:04d}", "like": like, "category": cat, "band": band}
        for i, (like, cat, band, _) in enumerate(cells)
    ]


def place(people: list[dict], seed: int) -> dict:
    """Train the 12-segment model on a shop history and place each shopper by the
    assigner, from features of a history generated from their preference."""
    from segmentation.assign import SegmentAssigner
    from segmentation.features import build_features
    from segmentation.synthetic import make_dataset, make_events, make_transactions
    from segmentation.train import train

    transactions, events, _ = make_dataset(6000, random_state=seed)
    history, _ = build_features(transactions, events)
    model = train(history, "kmeans", 12, min_share=0.005, random_state=seed)
    labels = np.array([LIKES[p["like"]] for p in people])
    tx, ev = make_transactions(labels, seed + 100), make_events(labels, seed + 100)
    features, _ = build_features(tx, ev)
    rows = features.set_index("user_id")
    assigner = SegmentAssigner(model.spec)
    ids = [f"u{i:07d}" for i in range(len(people))]
    segments = assigner.predict_many([rows.loc[u].to_dict() for u in ids])
    personas = {s["id"]: s["persona"] for s in model.meta["segments"]}
    return {"meta": model.meta, "spec": model.spec, "segments": segments, "personas": personas}


async def seed_redis(url: str, people: list[dict], placed: dict) -> None:
    from segmentation.publish import Keys, publish

    key = load_pseudonym_key({"PZ_PSEUDONYM_KEY": PSEUDONYM_KEY}, DEFAULT_SECRETS_DIR)[0]
    keys = UserKeys(DEFAULT_NAMESPACE, key)
    published, assigned = [], []
    client = aioredis.Redis.from_url(url)
    for person, segment in zip(people, placed["segments"], strict=True):
        facts = {
            "order_count": "3",
            "order_total": f"{3 * BAND_ORDER[person['band']]:.2f}",
            "favourite_category": person["category"],
        }
        for arm in ARMS[:2]:
            sender = f"{arm}-{person['id']}"
            published.append(keys.subject(sender))
            assigned.append(segment)
            profile = dict(facts)
            if arm == "personas":
                profile["segment"] = placed["personas"][segment]
            await client.hset(keys.profile(sender), mapping=profile)
            await record_consent(client, DEFAULT_NAMESPACE, sender, GRANTED, "bench", key)
    await client.close()
    sync = redis.Redis.from_url(url)
    publish(sync, published, assigned, placed["meta"], placed["spec"], Keys(DEFAULT_NAMESPACE))
    sync.close()


async def chat(url: str, people: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {arm: [] for arm in ARMS}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        for person in people:
            for arm in ARMS:
                body = {"sender": f"{arm}-{person['id']}", "message": ASK[person["category"]]}
                async with http.post(url, json=body) as resp:
                    messages = await resp.json() if resp.status == 200 else []
                text = next(
                    (m.get("text") or "" for m in messages if "•" in (m.get("text") or "")), ""
                )
                out[arm].append({**person, "shown": LINE.findall(text)})
    return out


def score(results: dict[str, list[dict]], c: ProductCatalogue) -> dict[str, dict]:
    out = {}
    for arm, rows in results.items():
        shown = hits = first = answered = 0
        for r in rows:
            products = [c.find(name) for name in r["shown"]]
            products = [p for p in products if p is not None]
            good = [wants(p, c, r["category"], r["band"], r["like"]) for p in products]
            shown, hits = shown + len(good), hits + sum(good)
            first += bool(good and good[0])
            answered += bool(good)
        out[arm] = {
            "shoppers": len(rows),
            "answered": answered,
            "products_shown": shown,
            "hits": hits,
            "hit_rate": round(hits / shown, 3) if shown else 0.0,
            "first_is_hit": round(first / len(rows), 3) if rows else 0.0,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-cell", type=int, default=3, help="shoppers per preference")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not list((ROOT / "models").glob("*.tar.gz")):
        print("Error: no trained model in models/; run 'make train' first", file=sys.stderr)
        return 1
    people = shoppers(args.per_cell)
    placed = place(people, args.seed)
    catalogue = load_products()
    server = RedisServer("bench-relevance").start()
    services = []
    try:
        actions_port, rasa_port = free_port(), free_port()
        endpoints = write_endpoints(VAR / "bench-relevance" / "endpoints.yml", actions_port, server)
        services.append(action_server(actions_port, server.url, name="bench-rel-actions").start(90))
        services.append(rasa_server(rasa_port, endpoints, name="bench-rel-rasa").start(300))
        asyncio.run(seed_redis(server.url, people, placed))
        url = f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook"
        results = asyncio.run(chat(url, people))
    finally:
        for service in reversed(services):
            service.stop()
        server.destroy()
    scores = score(results, catalogue)
    base = scores["unpersonalized"]["hit_rate"] or None
    ratios = {arm: round(scores[arm]["hit_rate"] / base, 2) if base else None for arm in ARMS[:2]}
    print(f"{len(people)} simulated shoppers per arm, each asking for their category once")
    print(f"{'arm':16}{'hit rate':>10}{'first hit':>11}{'shown':>8}{'answered':>10}")
    for arm in ARMS:
        s = scores[arm]
        print(
            f"{arm:16}{s['hit_rate']:>10.3f}{s['first_is_hit']:>11.3f}{s['products_shown']:>8}"
            f"{s['answered']:>10}"
        )
    met = (ratios["segments"] or 0) >= 2.0
    print(
        f"segments vs unpersonalized: {ratios['segments']}x (target >= 2x: "
        f"{'met' if met else 'NOT met'}); five personas vs unpersonalized: {ratios['personas']}x"
    )
    path = write_result(
        "relevance",
        {
            "command": "python -m bench.relevance",
            "setup": vars(args) | {"shoppers_per_arm": len(people)},
            "scores": scores,
            "ratio_vs_unpersonalized": ratios,
            "target": {"segments_vs_unpersonalized_at_least": 2.0, "met": met},
        },
    )
    print(f"written to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
