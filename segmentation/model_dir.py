"""A `segment train` output directory, written and read in one place for both engines.

model.json         metadata; written last, so its presence marks a complete directory
assignments.csv    user_id, segment, persona (written by the engine: pandas or Spark)
assigner.json      the JSON spec `segment publish` publishes (segmentation/assign.py)
preprocess.joblib  the fitted preprocessing pipeline `segment report` transforms with
model.joblib       the fitted estimator
selection.json     the `segment select` output training followed, if any
published.json     the summary of `segment publish`, once published
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass
from pathlib import Path

import joblib
import pandas as pd

from segmentation.errors import InputError, SegmentationError

MODEL = "model.json"
ASSIGNMENTS = "assignments.csv"
ASSIGNER = "assigner.json"
PREPROCESS = "preprocess.joblib"
ESTIMATOR = "model.joblib"
SELECTION = "selection.json"
PUBLISHED = "published.json"


def write_model_dir(out_dir: Path, meta: dict, spec: dict, pipeline, model) -> Path:
    """Everything but assignments.csv, which the engine writes first."""
    joblib.dump(pipeline, out_dir / PREPROCESS)
    joblib.dump(model, out_dir / ESTIMATOR)
    (out_dir / ASSIGNER).write_text(json.dumps(spec))
    (out_dir / MODEL).write_text(json.dumps(meta, indent=2))  # last: marks it complete
    return out_dir


def load_model_dir(
    path: str | Path, *, assignments: bool = True
) -> tuple[dict, pd.DataFrame | None, dict]:
    """(meta, assignments, assigner spec) of a `segment train` output directory; the
    assignments only checked to exist, not read, with `assignments=False`."""
    path = Path(path)
    try:
        meta = json.loads((path / MODEL).read_text())
        spec = json.loads((path / ASSIGNER).read_text())
        if assignments:
            frame = pd.read_csv(path / ASSIGNMENTS, dtype=str)
        elif (path / ASSIGNMENTS).exists():
            frame = None
        else:
            raise FileNotFoundError(
                errno.ENOENT, os.strerror(errno.ENOENT), str(path / ASSIGNMENTS)
            )
    except FileNotFoundError as exc:
        raise InputError(
            f"not a 'segment train' output ({Path(exc.filename).name} missing)", str(path)
        ) from None
    except (ValueError, OSError) as exc:
        raise SegmentationError(f"{path}: cannot read model files ({exc})") from None
    return meta, frame, spec


@dataclass(frozen=True)
class PreviousModel:
    """The model a retrain follows: its segment ids stay, its users' moves are counted."""

    path: Path
    meta: dict

    def assignments(self) -> pd.DataFrame:
        return load_model_dir(self.path)[1]


def load_previous(path: str | None) -> PreviousModel | None:
    """The previous model directory, or None when there is none (yet)."""
    if not path or not Path(path, MODEL).exists():
        return None
    meta, _, _ = load_model_dir(path, assignments=False)
    return PreviousModel(Path(path), meta)


def copy_selection(selection: str, out_dir: Path) -> None:
    (out_dir / SELECTION).write_text(Path(selection).read_text())


def read_selection(model_dir: str | Path, meta: dict) -> dict:
    """The selection training followed, or what the report says when there was none."""
    path = Path(model_dir) / SELECTION
    if path.exists():
        return json.loads(path.read_text())
    return {
        "rule": "algorithm and k were set by hand",
        "candidates": [],
        "knee_k": None,
        "chosen": {"algorithm": meta["algorithm"], "k": meta["params"]["n_clusters"]},
    }


def write_published(model_dir: str | Path, summary: dict) -> None:
    (Path(model_dir) / PUBLISHED).write_text(json.dumps(summary))


def published_version(model_dir: str | Path) -> str:
    path = Path(model_dir) / PUBLISHED
    return json.loads(path.read_text())["version"] if path.exists() else "(not published)"
