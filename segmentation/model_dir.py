"""A `segment train` output directory, written and read in one place for both engines.

model.json         metadata; written last, so its presence marks a complete directory
assignments.csv    user_id, segment, persona (written by the engine: pandas or Spark)
assigner.json      the JSON spec `segment publish` publishes (segmentation/assign.py)
preprocess.skops   the fitted preprocessing pipeline `segment report` transforms with
model.skops        the fitted estimator (SegmentModel, or SparkSegmentModel: plain arrays)
selection.json     the `segment select` output training followed, if any
card.json          what the model card adds to model.json (segmentation/card_data.py)
card.md            the model card (segmentation/card.py)
fairness.json      the `segment audit` output, once audited
published.json     the summary of `segment publish`, once published

The fitted objects are saved with skops, not pickle, and loaded with an explicit list of
the project's own types: a file holding any other type (a function, a tampered
estimator) is refused before anything in it runs. Folders of older versions
(preprocess.joblib, model.joblib) are refused with a line that says to retrain; they are
never unpickled.
"""

from __future__ import annotations

import errno
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from segmentation.errors import InputError, SegmentationError, first_line

MODEL = "model.json"
ASSIGNMENTS = "assignments.csv"
ASSIGNER = "assigner.json"
PREPROCESS = "preprocess.skops"
ESTIMATOR = "model.skops"
LEGACY_PICKLES = ("preprocess.joblib", "model.joblib")
SELECTION = "selection.json"
PUBLISHED = "published.json"

# The types of ours (and the one dataclass) in a saved pipeline or estimator; scikit-learn's
# and numpy's own are trusted by skops itself. Anything else in a file means it is not what
# `segment train` wrote.
TRUSTED_TYPES = (
    "segmentation.models.SegmentModel",
    "segmentation.preprocess.Log1p",
    "segmentation.preprocess.MedianImputer",
    "segmentation.spark_models.Mixture",
    "segmentation.spark_models.SparkSegmentModel",
)


def write_model_dir(out_dir: Path, meta: dict, spec: dict, pipeline, model) -> Path:
    """Everything but assignments.csv, which the engine writes first."""
    import skops.io as sio

    sio.dump(pipeline, out_dir / PREPROCESS)
    sio.dump(model, out_dir / ESTIMATOR)
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


def check_no_pickle(path: str | Path) -> None:
    """Refuse a folder saved with pickle by an older version: it is never unpickled."""
    path = Path(path)
    legacy = [name for name in LEGACY_PICKLES if (path / name).exists()]
    if legacy and not (path / ESTIMATOR).exists():
        raise InputError(
            f"saved with pickle by an older version ({legacy[0]}), which could run code "
            "when loaded; retrain it with 'segment train'",
            str(path),
        )


def load_fitted(path: str | Path, name: str = PREPROCESS):
    """The fitted pipeline (or estimator, name=ESTIMATOR) of a model directory, loaded with
    skops and the project's own types only."""
    import skops.io as sio

    path = Path(path)
    check_no_pickle(path)
    file = path / name
    try:
        unexpected = sorted(set(sio.get_untrusted_types(file=file)) - set(TRUSTED_TYPES))
        if unexpected:
            raise InputError(
                f"{name} holds types 'segment train' never writes ({', '.join(unexpected)}); "
                "not loading it: retrain the model",
                str(path),
            )
        return sio.load(file, trusted=list(TRUSTED_TYPES))
    except FileNotFoundError:
        raise InputError(f"not a 'segment train' output ({name} missing)", str(path)) from None
    except (zipfile.BadZipFile, ValueError, OSError, KeyError, TypeError) as exc:
        raise InputError(
            f"{name} is not a readable skops file ({first_line(exc)})", str(path)
        ) from None


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
