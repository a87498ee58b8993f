"""Fail when the held-out NLU set (tests/nlu/test_nlu.yml) scores under the agreed bars.

Bars (issue 14): intent macro-F1 >= 0.95, entity F1 >= 0.95 for `amount` and `product`.
Also prints the confusion pairs that cost most (true -> predicted, count), so a drop
points at the data to fix. DIET is seeded: run-to-run noise is small.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

MIN_MACRO_F1 = 0.95
MIN_ENTITY_F1 = 0.95
ENTITIES = ("amount", "product")
TOP_PAIRS = 8
SUMMARY_ROWS = ("macro avg", "weighted avg", "micro avg", "accuracy")


def _load(path: Path) -> object:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def confusion_pairs(errors: list[dict]) -> list[tuple[tuple[str, str], int]]:
    """(true intent, predicted intent) -> count over the misclassified examples."""
    pairs = Counter(
        (e.get("intent", "?"), (e.get("intent_prediction") or {}).get("name") or "?")
        for e in errors
        if isinstance(e, dict)
    )
    return pairs.most_common(TOP_PAIRS)


def entity_f1(report: dict, entity: str) -> float | None:
    row = report.get(entity)
    return float(row["f1-score"]) if isinstance(row, dict) and "f1-score" in row else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="the --out directory of 'rasa test nlu'")
    parser.add_argument("--min-macro-f1", type=float, default=MIN_MACRO_F1)
    parser.add_argument("--min-entity-f1", type=float, default=MIN_ENTITY_F1)
    args = parser.parse_args(argv)
    out = Path(args.results)
    try:
        intents = _load(out / "intent_report.json")
        macro = float(intents["macro avg"]["f1-score"])
        entities = _load(out / "DIETClassifier_report.json")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"Error: cannot read the NLU reports in {out} ({exc})", file=sys.stderr)
        return 1
    errors_file = out / "intent_errors.json"
    errors = _load(errors_file) if errors_file.exists() else []
    failed = []
    print(f"intent macro-F1 {macro:.3f} (bar {args.min_macro_f1:.2f})")
    if macro < args.min_macro_f1:
        failed.append(f"intent macro-F1 {macro:.3f} is below {args.min_macro_f1:.2f}")
    for name, row in sorted(intents.items()):
        if isinstance(row, dict) and name not in SUMMARY_ROWS and row["f1-score"] < 0.9:
            print(f"  weak intent: {name} F1 {row['f1-score']:.3f} (support {row['support']})")
    for entity in ENTITIES:
        f1 = entity_f1(entities, entity)
        shown = "missing" if f1 is None else f"{f1:.3f}"
        print(f"entity F1 {entity}: {shown} (bar {args.min_entity_f1:.2f})")
        if f1 is None or f1 < args.min_entity_f1:
            failed.append(f"entity F1 for {entity!r} is {shown}, below {args.min_entity_f1:.2f}")
    pairs = confusion_pairs(errors if isinstance(errors, list) else [])
    print("confusion pairs that cost most (true -> predicted: count):")
    for (true, predicted), count in pairs or [(("none", "none"), 0)]:
        print(f"  {true} -> {predicted}: {count}")
    for problem in failed:
        print(f"Error: {problem}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
