"""`make eval-generation`: both packaged models on a fixed set of shoppers, side by side.

For every segment preset (and an unplaced shopper) x intent (recommend, deals, new
arrivals) x two categories, at a rotating time of day, the real Responder composes the
template answer and asks the real model server for the words, with a budget large enough
that quality, not speed, is measured (`make bench-generation` measures speed). Per model:

    accepted        share of answers the guard let through
    trait_reflected share of accepted introductions that use a word of the shopper's leading
                    trait (generation/prompt.py TRAIT_WORDS; shoppers without one left out)
    fact_errors     accepted answers naming a product not shown or a number not in the
                    shown products' catalogue facts (`fact_errors` below, independent of
                    the guard); must be 0
    latency         whole answer, p50 / p95

Writes bench/results/generation_eval.json and generation_eval.html (template and generated
answer next to each other, with what the model said, for a person to read).
"""

from __future__ import annotations

import argparse
import asyncio
import html
import itertools
import re
import statistics
from collections import Counter
from collections.abc import Callable

from bench.common import RESULTS, percentile, write_result
from core.categories import CATEGORIES as ALL_CATEGORIES
from core.dayparts import DAYPARTS
from core.products import Product, load_products
from core.settings import Settings
from core.traits import PRESETS
from experiments.policy import ArmChooser
from generation.client import Generator
from generation.config import GeneratorConfig
from generation.prompt import TRAIT_WORDS, leading_traits
from generation.server import ModelServer
from personalization.responder import Ask, Responder, Turn
from responses.cues import Cues
from responses.engine import ResponseEngine
from responses.live_catalogue import CatalogueFile
from tests.servers import free_port

MODELS = ("smollm2-135m", "gemma3-270m")
INTENTS = ("recommend", "deals", "new_arrivals")
EVAL_CATEGORY_IDS = ALL_CATEGORIES[0], ALL_CATEGORIES[2]  # smartphones, headphones


def fact_errors(
    text: str, shown: list[Product], names: tuple[str, ...], new: Callable[[Product], bool]
) -> list[str]:
    """What an answer states that the shown products' catalogue facts do not: other product
    names, numbers (prices, discounts, specs) found in none of their facts, and "new" or
    "on deal" said of a product that is not."""
    errors = [n for n in names if n in text and n not in {p.name for p in shown}]
    source = " ".join(
        f"{p.name} {p.highlight} {p.key_spec} {p.price:,.2f} {p.price:,.0f} "
        f"{p.deal_price:,.2f} {p.deal_price:,.0f} {p.price - p.deal_price:,.2f} {p.discount_pct}"
        for p in shown
    )
    errors += [n for n in re.findall(r"\d+(?:[.,]\d+)*", text) if n not in source]
    for p in shown:  # what a product's line claims against the catalogue's flags
        line = next((x for x in text.splitlines() if x.startswith(f"• {p.name},")), "")
        reason = line.split(": ", 1)[-1].lower() if line else ""
        if not new(p) and re.search(r"just released|brand new|newest|latest", reason):
            errors.append(f"{p.name} is not new")
        if not p.on_deal and re.search(r"on deal|discount|on sale", reason):
            errors.append(f"{p.name} is not on deal")
    return errors


def shoppers() -> list[tuple[str, str, str, str]]:
    cases = itertools.product(PRESETS, INTENTS, EVAL_CATEGORY_IDS)
    return [
        (persona, intent, category, DAYPARTS[i % len(DAYPARTS)])
        for i, (persona, intent, category) in enumerate(cases)
    ]


async def evaluate(model: str, port: int) -> dict:
    products = load_products()
    names = tuple(p.name for p in products.products)
    engine = ResponseEngine(CatalogueFile(Settings().paths.responses), products)
    config = GeneratorConfig(f"http://127.0.0.1:{port}/v1", model, None, {"default": 15000})
    generator = Generator(config, names)
    responder = Responder(engine, ArmChooser(None, None), generator)
    rows, latencies, reflected, reflectable, errors = [], [], 0, 0, 0
    for persona, intent, category, daypart in shoppers():
        cues = Cues(persona=persona, time_of_day=daypart, channel="web", device="mobile")
        reply = await responder.reply(
            Ask(intent, category=category, decision=True), Turn(f"eval_{persona}", cues)
        )
        reason = generator.last.reason
        shown = list(reply.rendered.products)
        row = {
            "persona": persona, "intent": intent, "category": category, "daypart": daypart,
            "template": reply.rendered.text, "answer": reply.text, "reason": reason,
            "raw": generator.last.raw,
        }  # fmt: skip
        if reason in ("generated", "cached"):
            latencies.append(generator.last.elapsed_ms)
            row["fact_errors"] = fact_errors(reply.text, shown, names, products.is_new)
            errors += bool(row["fact_errors"])
            lead = leading_traits(PRESETS[persona])
            if lead:
                reflectable += 1
                intro = reply.text.split("\n", 1)[0].lower()
                row["trait_reflected"] = any(w in intro for w in TRAIT_WORDS[lead[0]])
                reflected += row["trait_reflected"]
        rows.append(row)
    await generator.close()
    accepted = sum(r["reason"] in ("generated", "cached") for r in rows)
    return {
        "model": model,
        "cases": len(rows),
        "accepted_share": round(accepted / len(rows), 3),
        "trait_reflected_share": round(reflected / reflectable, 3) if reflectable else None,
        "fact_errors_after_guard": errors,
        "outcomes": dict(Counter(r["reason"] for r in rows)),
        "latency_ms": {
            "p50": round(percentile(latencies, 50)) if latencies else None,
            "p95": round(percentile(latencies, 95)) if latencies else None,
            "mean": round(statistics.fmean(latencies)) if latencies else None,
        },
        "rows": rows,
    }


def page(results: list[dict]) -> str:
    def cell(text: str) -> str:
        return f"<td><pre>{html.escape(text)}</pre></td>"

    parts = ["<!doctype html><meta charset=utf-8><title>Generated vs template answers</title>"]
    parts.append("<style>td{vertical-align:top}pre{white-space:pre-wrap;max-width:40em}</style>")
    for result in results:
        parts.append(
            f"<h2>{html.escape(result['model'])}: {result['accepted_share']:.0%} accepted, "
            f"{result['fact_errors_after_guard']} fact errors</h2><table border=1>"
            "<tr><th>shopper</th><th>template</th><th>answer sent</th><th>model said</th></tr>"
        )
        for r in result["rows"]:
            who = (
                f"{r['persona']} / {r['intent']} / {r['category']} / {r['daypart']}: {r['reason']}"
            )
            parts.append(
                f"<tr>{cell(who)}{cell(r['template'])}{cell(r['answer'])}{cell(r['raw'])}</tr>"
            )
        parts.append("</table>")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    args = parser.parse_args(argv)
    results = []
    for model in args.models:
        server = ModelServer(free_port(), (model,)).start()
        try:
            result = asyncio.run(evaluate(model, server.port))
        finally:
            server.stop()
        results.append(result)
        print(
            f"{model}: accepted {result['accepted_share']:.0%} of {result['cases']}, trait "
            f"reflected {result['trait_reflected_share']:.0%}, fact errors "
            f"{result['fact_errors_after_guard']}, p50 {result['latency_ms']['p50']} ms, "
            f"outcomes {result['outcomes']}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "generation_eval.html").write_text(page(results), encoding="utf-8")
    path = write_result("generation_eval", {"command": "make eval-generation", "models": results})
    print(f"wrote {path} and {RESULTS / 'generation_eval.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
