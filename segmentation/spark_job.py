"""spark-submit entry point: `segment select|train|retrain --engine spark` on any Spark cluster.

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/spark-submit --master spark://HOST:7077 \\
        --driver-memory 4g --executor-memory 8g \\
        segmentation/spark_job.py train /shared/features.parquet -o /shared/model --k 5 \\
        --algorithm kmeans

The arguments are `segment`'s; `--engine spark` is implied and the master,
memory and other settings come from spark-submit (README, "Segmentation on Spark").
"""

from __future__ import annotations

import sys
from pathlib import Path

COMMANDS = ("select", "train", "retrain")


def job_argv(argv: list[str]) -> list[str]:
    """`segment` arguments with --engine spark after the subcommand."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in COMMANDS:
        raise SystemExit(f"Error: spark_job.py runs one of {', '.join(COMMANDS)}, got {command!r}")
    if "--engine" in argv or any(a.startswith("--engine=") for a in argv):
        return argv
    at = argv.index(command) + 1
    return [*argv[:at], "--engine", "spark", *argv[at:]]


def main(argv: list[str] | None = None) -> int:
    # spark-submit runs this file as a script: import the package from the repository root,
    # never this directory's modules as top-level ones (features, tables, report...).
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    if str(here.parent) not in sys.path:
        sys.path.insert(0, str(here.parent))
    from segmentation.cli import main as segment

    return segment(job_argv(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
