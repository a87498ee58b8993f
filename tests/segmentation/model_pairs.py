"""Two small trained models, the second a retrain of the first, made the way an analyst does
(demo data, `segment features`, `segment train`, then `train --previous`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from segmentation.config import FeaturesConfig, TrainConfig
from segmentation.engines import SklearnEngine
from segmentation.pipeline import Console, make_features, train_model
from segmentation.progress import bars
from segmentation.synthetic import write_dataset

KEY = b"model-card-tests-pseudonym-key-0"
SELECTION = {
    "rule": "1. the test's rule: take k=4",
    "chosen": {"algorithm": "kmeans", "k": 4, "covariance_type": None},
    "knee_k": 4,
    "bic_best": None,
    "candidates": [
        {"algorithm": "kmeans", "k": 4, "silhouette": 0.31, "davies_bouldin": 1.1},
        {"algorithm": "kmeans", "k": 3, "silhouette": 0.27, "davies_bouldin": 1.3},
    ],
}


def quiet_console(notes: list | None = None) -> Console:
    notes = [] if notes is None else notes
    return Console(say=notes.append, show=notes.append, warn=notes.append, progress=bars(True))


@dataclass(frozen=True)
class Pair:
    data: Path  # demo-data output
    features: Path
    first: Path  # kmeans k=4, by selection.json
    second: Path  # kmeans k=5, --previous first


def train_pair(root: Path, users: int = 600) -> Pair:
    data = write_dataset(users, 3, root / "data")
    features = root / "features.parquet"
    console = quiet_console()
    make_features(
        FeaturesConfig(str(data / "transactions.csv"), str(data / "events.parquet"), str(features)),
        KEY,
        console,
    )
    selection = root / "selection.json"
    selection.write_text(json.dumps(SELECTION))
    first, second = root / "first", root / "second"
    train_model(TrainConfig(str(features), str(first), str(selection)), SklearnEngine(), console)
    train_model(
        TrainConfig(str(features), str(second), algorithm="kmeans", k=5, previous=str(first)),
        SklearnEngine(),
        console,
    )
    return Pair(data, features, first, second)
