"""How fine-grained the answers are: distinct answers across a 12-segment model, and which
responses vary by segment, by the shopper's own facts and by context.

A 12-segment k-means is trained by the real pipeline code (segmentation/train.py) on a
generated shop history (segmentation/synthetic.py, planted behaviour); each segment's
traits come from its centre as in every published version. The answers are rendered by
the action server's own engine over the shipped catalogue and products, side by side
with the baseline: the same segments answered by their nearest of the five fixed personas.

    .venv/bin/python -m bench.answers [--users 6000 --k 12]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

from bench.common import write_result
from core.personas import DEFAULT
from core.products import load_products
from core.settings import Settings
from core.traits import PRESETS, Traits, parse_traits
from responses.catalogue import LISTING, PRODUCT, RESPONSES
from responses.cues import Cues
from responses.engine import ResponseEngine
from responses.live_catalogue import CatalogueFile
from tests.servers import ROOT

QUESTION = ("recommend", "laptops")  # "can you recommend a laptop?"
MIN_SHARE = 0.01
# Representative shopper facts and contexts (responses/cues.py).
FACTS = (
    {},
    {"price_band": "budget", "favourite": "headphones"},
    {"price_band": "premium", "favourite": "laptops"},
    {"companion": "headphones", "last_order": "laptops", "recent": frozenset({"recent_order"})},
    {"recent": frozenset({"long_absence"}), "favourite": "tablets"},
)
CONTEXTS = (
    {},
    {"time_of_day": "evening"},
    {"time_of_day": "night", "device": "mobile"},
    {"channel": "slack"},
    {"region": "US"},
)


def trained_segments(users: int, k: int, seed: int) -> list[tuple[str, float, Traits]]:
    """(id, share, traits) of each segment of a k-segment model on generated history."""
    from segmentation.features import build_features
    from segmentation.synthetic import make_dataset
    from segmentation.train import train

    transactions, events, _ = make_dataset(users, random_state=seed)
    features, _ = build_features(transactions, events)
    result = train(features, "kmeans", k, min_share=MIN_SHARE / 2, random_state=seed)
    return [
        (s["id"], s["share"], parse_traits(s["traits"], s["persona"]))
        for s in result.meta["segments"]
    ]


def render(engine: ResponseEngine, key: str, cues: Cues, category: str | None) -> str:
    cues = engine.cues_with_facts(cues, category)
    values: dict[str, object] = {"options": "", "typed": "nova", "summary": "profile"}
    product = engine.products.find("Nova X12") if RESPONSES[key][0] == PRODUCT else None
    compact = cues.device == "mobile"  # as the responder renders for a phone
    return engine.render(key, cues, product=product, compact=compact, **values).text


def distinct_answers(engine: ResponseEngine, segments) -> dict[str, object]:
    key, category = QUESTION
    big = [(sid, t) for sid, share, t in segments if share >= MIN_SHARE]
    ours = {sid: render(engine, key, Cues(persona=t.preset, traits=t), category) for sid, t in big}
    personas = {sid: render(engine, key, Cues(persona=t.preset), category) for sid, t in big}
    return {
        "segments": len(segments),
        "segments_over_1pct": len(big),
        "distinct_traits": len(set(ours.values())),
        "distinct_personas": len(set(personas.values())),
        "met": len(set(ours.values())) == len(big),
        "answers": ours,
    }


def coverage(engine: ResponseEngine, segments) -> list[dict[str, object]]:
    """Per response: does the answer vary by segment, and (for some segment) by the
    shopper's facts or by context?"""
    rows = []
    for key, (kind, _) in RESPONSES.items():
        category = "laptops" if kind == LISTING or key == "offer_deals" else None
        traits = [t for _, _, t in segments]
        by_segment = {
            render(engine, key, Cues(persona=t.preset, traits=t), category) for t in traits
        }
        by_facts = any(
            len(
                {
                    render(engine, key, Cues(persona=t.preset, traits=t, **f), category)
                    for f in FACTS
                }
            )
            > 1
            for t in traits
        )
        by_context = any(
            len(
                {
                    render(engine, key, replace(Cues(persona=t.preset, traits=t), **c), category)
                    for c in CONTEXTS
                }
            )
            > 1
            for t in traits
        )
        response = engine.catalogue.get(key)
        rows.append(
            {
                "response": key,
                "segment": len(by_segment) > 1,
                "facts": by_facts,
                "context": by_context,
                "personalized": response.personalized,
                "why_not": response.why,
            }
        )
    return rows


def coverage_table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| response | by segment (traits) | by the shopper's facts | by context | note |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        mark = {True: "yes", False: "–"}
        note = "" if r["personalized"] else f"not personalized: {r['why_not']}"
        lines.append(
            f"| {r['response']} | {mark[r['segment']]} | {mark[r['facts']]} | "
            f"{mark[r['context']]} | {note} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6000)
    parser.add_argument("--k", type=int, default=12)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=list(range(1, 11)), help="histories and fits"
    )
    args = parser.parse_args(argv)
    engine = ResponseEngine(CatalogueFile(Settings().paths.responses), load_products())
    runs = {}
    for seed in args.seeds:
        segments = trained_segments(args.users, args.k, seed)
        runs[seed] = distinct_answers(engine, segments)
        if seed == args.seeds[0]:
            first, rows = runs[seed], coverage(engine, segments)
    met = sum(r["met"] for r in runs.values())
    unplaced = render(
        engine, QUESTION[0], Cues(persona=DEFAULT, traits=PRESETS[DEFAULT]), "laptops"
    )
    print(
        f"{args.k}-segment models on {len(runs)} histories; same question ({' '.join(QUESTION)}):"
    )
    print(f"{'seed':>6}{'segments >= 1%':>16}{'from traits':>13}{'5 personas':>12}")
    for seed, r in runs.items():
        print(
            f"{seed:>6}{r['segments_over_1pct']:>16}{r['distinct_traits']:>13}"
            f"{r['distinct_personas']:>12}"
        )
    print(f"every segment its own answer (target): {met} of {len(runs)} models")
    print()
    print(coverage_table(rows))
    path = write_result(
        "answers",
        {
            "command": "python -m bench.answers",
            "setup": vars(args),
            "distinct": {str(k): {**v, "answers": None} for k, v in runs.items()},
            "models_all_distinct": met,
            "first_model_answers": first["answers"],
            "unplaced_answer": unplaced,
            "coverage": rows,
            "coverage_table": coverage_table(rows),
        },
    )
    print(f"written to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
