"""Fail when intent macro-F1 on the held-out NLU set drops below the agreed floor.

The floor (0.90) sits a few points under what the current data and config reach
(see README, "NLU quality"): DIET is seeded, so run-to-run noise is small,
and anything larger means a regression in data or config worth a look.
"""

from __future__ import annotations

import argparse
import json
import sys

MIN_MACRO_F1 = 0.90


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="intent_report.json written by 'rasa test nlu'")
    parser.add_argument("--min-macro-f1", type=float, default=MIN_MACRO_F1)
    args = parser.parse_args(argv)
    try:
        with open(args.report, encoding="utf-8") as handle:
            report = json.load(handle)
        macro = float(report["macro avg"]["f1-score"])
    except (OSError, ValueError, KeyError) as exc:
        print(f"Error: cannot read macro F1 from {args.report} ({exc})", file=sys.stderr)
        return 1
    weak = sorted(
        (name, v["f1-score"])
        for name, v in report.items()
        if isinstance(v, dict)
        and "support" in v
        and name not in ("macro avg", "weighted avg", "micro avg")
        and v["f1-score"] < args.min_macro_f1
    )
    print(f"intent macro-F1 {macro:.3f} (floor {args.min_macro_f1:.2f})")
    for name, f1 in weak:
        print(f"  below floor: {name} {f1:.3f}")
    if macro < args.min_macro_f1:
        print(
            f"Error: intent macro-F1 {macro:.3f} is below {args.min_macro_f1:.2f}", file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
