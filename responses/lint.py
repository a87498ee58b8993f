"""`make lint-responses` (python -m responses.lint): checks the response catalogue and the
experiments naming its arms; every problem is one line with file and line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path

from core.settings import Paths
from core.traits import listed_traits
from responses.catalogue import DEFAULT_PATH, CatalogueError, load_catalogue
from responses.checks import lint, lint_experiments, unreachable_pins


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m responses.lint", description=__doc__)
    parser.add_argument("catalogue", nargs="?", default=str(DEFAULT_PATH))
    parser.add_argument("--experiments", default=str(Paths.experiments))
    parser.add_argument(
        "--model", help="a trained model.json: warn about pins no segment of it has"
    )
    args = parser.parse_args(argv)
    try:
        catalogue = load_catalogue(args.catalogue)
    except CatalogueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    problems = lint(catalogue)
    if Path(args.experiments).exists():
        problems += lint_experiments(catalogue, args.experiments)
    for problem in problems:
        print(f"Error: {problem}", file=sys.stderr)
    if problems:
        print(f"{len(problems)} problem(s) in the response catalogue", file=sys.stderr)
        return 1
    if args.model:
        for warning in unreachable_pins(catalogue, _segment_traits(args.model)):
            print(f"Warning: {warning}", file=sys.stderr)
    variants = sum(len(r.variants) for r in catalogue.responses.values())
    arms = sum(len(v.arms) for r in catalogue.responses.values() for v in r.variants)
    print(
        f"responses ok: {len(catalogue.responses)} responses, {variants} variants, {arms} wordings"
    )
    return 0


def _segment_traits(path: str) -> list:
    """Each segment's traits in a model.json (its persona's preset where it has none)."""
    try:
        segments = json.loads(Path(path).read_text(encoding="utf-8"))["segments"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(
            f"Warning: {path}: cannot read the segments ({exc}); pins not checked", file=sys.stderr
        )
        return []
    return [listed_traits(s)[1] for s in segments if isinstance(s, Mapping)]


if __name__ == "__main__":
    sys.exit(main())
