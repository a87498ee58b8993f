"""`make lint-responses` (python -m responses.lint): checks the response catalogue and the
experiments naming its arms; every problem is one line with file and line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.settings import Paths
from responses.catalogue import DEFAULT_PATH, CatalogueError, load_catalogue
from responses.checks import lint, lint_experiments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m responses.lint", description=__doc__)
    parser.add_argument("catalogue", nargs="?", default=str(DEFAULT_PATH))
    parser.add_argument("--experiments", default=str(Paths.experiments))
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
    variants = sum(len(r.variants) for r in catalogue.responses.values())
    arms = sum(len(v.arms) for r in catalogue.responses.values() for v in r.variants)
    print(
        f"responses ok: {len(catalogue.responses)} responses, {variants} variants, {arms} wordings"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
