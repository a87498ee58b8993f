"""Training with scikit-learn: fit, guard against tiny segments, keep ids stable, label personas.

The fit and the per-segment aggregates are scikit-learn and pandas; ids,
personas, model.json and the assigner spec come from segmentation/segments.py,
which the Spark engine (segmentation/spark_train.py) shares.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from segmentation.features import NUMERIC_COLUMNS
from segmentation.labels import profiles
from segmentation.model_dir import ASSIGNMENTS, write_model_dir
from segmentation.models import SegmentModel
from segmentation.preprocess import (
    LOG_COLUMNS,
    as_frame,
    feature_names,
    log1p_clipped,
    make_preprocessor,
)
from segmentation.segments import (
    DISTINCT_SAMPLE,
    SILHOUETTE_SAMPLE,
    Fitted,
    SegmentStats,
    check_trainable,
    describe,
    params,
)
from segmentation.selection import score_labels


@dataclass
class TrainResult:
    meta: dict
    assignments: pd.DataFrame  # user_id, segment, persona
    spec: dict  # the JSON assigner spec to publish
    X: np.ndarray
    feature_names: list[str]
    pipeline: object  # the fitted ColumnTransformer
    model: SegmentModel


def matching_space(features: pd.DataFrame) -> pd.DataFrame:
    """Numeric features with money and counts on a log scale: what segment profiles compare."""
    space = features[NUMERIC_COLUMNS].astype(float).copy()
    space[LOG_COLUMNS] = log1p_clipped(space[LOG_COLUMNS])
    return space


def fingerprint(features: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(features, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def _distinct(X: np.ndarray) -> int:
    n = X.shape[0]
    sample = X[np.random.default_rng(0).choice(n, min(n, DISTINCT_SAMPLE), replace=False)]
    return np.unique(sample.round(9), axis=0).shape[0]


def train(
    features: pd.DataFrame,
    algorithm: str,
    k: int,
    covariance_type: str = "full",
    min_share: float = 0.02,
    previous: dict | None = None,
    labels_override: dict[str, str] | None = None,
    random_state: int = 0,
    source: str = "features",
) -> TrainResult:
    pre = make_preprocessor()
    X = pre.fit_transform(as_frame(features))
    check_trainable(
        X.shape[0], k, source, lambda: np.allclose(X.std(axis=0), 0), lambda: _distinct(X)
    )
    model = SegmentModel(
        algorithm,
        k,
        covariance_type=covariance_type,
        min_share=min_share,
        random_state=random_state,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X)
    labels = model.labels_

    space = matching_space(features)
    profile = space.groupby(labels).mean()
    stats = SegmentStats(
        profile,
        space.std(ddof=0).to_numpy(),
        profiles(features, labels, NUMERIC_COLUMNS),
        np.bincount(labels, minlength=len(profile)),
    )
    sil_idx = np.random.default_rng(random_state).choice(
        len(X), min(len(X), SILHOUETTE_SAMPLE), replace=False
    )
    scores = {**score_labels(X, labels, sil_idx), "silhouette_sample": int(sil_idx.size)}
    fitted = Fitted(
        algorithm,
        params(algorithm, k, covariance_type, min_share, random_state),
        model,
        pre,
        scores,
        stats,
        len(features),
        fingerprint(features),
    )
    described = describe(fitted, previous, labels_override)
    described.meta["hierarchical_note"] = (
        f"Ward clustering was fitted on a sample of {model.max_hierarchical_samples} users; "
        "the rest were assigned to the nearest cluster centre."
        if model.fitted_on_sample_
        else None
    )
    segments = np.array(described.ids)[labels]
    assignments = pd.DataFrame(
        {
            "user_id": features["user_id"].astype(str).to_numpy(),
            "segment": segments,
            "persona": [described.personas[s] for s in segments],
        }
    )
    return TrainResult(
        described.meta, assignments, described.spec, X, feature_names(pre), pre, model
    )


def moved(previous: pd.DataFrame | None, current: pd.DataFrame) -> dict | None:
    """Users whose segment changed since the previous version (users in both)."""
    if previous is None or previous.empty:
        return None
    both = current.merge(previous[["user_id", "segment"]], on="user_id", suffixes=("", "_prev"))
    changed = both.loc[both["segment"] != both["segment_prev"]]
    transitions = (
        changed.groupby(["segment_prev", "segment"]).size().sort_values(ascending=False).head(20)
    )
    return {
        "compared_users": len(both),
        "moved_users": len(changed),
        "transitions": [{"from": a, "to": b, "users": int(n)} for (a, b), n in transitions.items()],
    }


def save(result: TrainResult, out_dir: Path, previous_assignments: pd.DataFrame | None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    result.assignments.to_csv(out_dir / ASSIGNMENTS, index=False)
    meta = {**result.meta, "moved": moved(previous_assignments, result.assignments)}
    return write_model_dir(out_dir, meta, result.spec, result.pipeline, result.model)
