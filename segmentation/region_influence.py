"""Region's influence on the clustering, for the fairness audit (segmentation/fairness.py).

Two figures: the users whose segment changes when every user's region columns are set to
the same baseline (the population's mix of regions) and the rest of their features are
kept, predicted with the model's published assigner (assigner.json: the compiled
preprocessing and the estimator's parameters, as segmentation/model_dir.py loads them, so
no pickle and both engines); and the region columns' share of the between-segment spread
(sum over segments of size * squared distance of the segment's mean from the overall mean,
per model column) and of the variance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from segmentation.assign import SegmentAssigner
from segmentation.audit_groups import UNKNOWN

CHUNK = 100_000  # users per prediction batch (a GMM's densities grow with n * k * d)


def model_vectors(assigner: SegmentAssigner, frame: pd.DataFrame) -> np.ndarray:
    """`SegmentAssigner.transform_many` for a whole features table at once (vectorised)."""
    raw = frame.reindex(columns=assigner.numeric).apply(pd.to_numeric, errors="coerce")
    raw = raw.to_numpy(float)
    raw = np.where(np.isnan(raw), assigner.median, raw)
    raw = np.where(assigner.log, np.log1p(np.clip(raw, 0, None)), raw)
    names = frame[assigner.categorical].fillna("").astype(str).replace("", UNKNOWN)
    codes = names.map(assigner.categories).to_numpy(float)
    onehot = np.zeros((len(frame), len(assigner.categories)))
    known = np.flatnonzero(~np.isnan(codes))
    onehot[known, codes[known].astype(int)] = 1.0
    return np.hstack([(raw - assigner.mean) / assigner.scale, onehot])


def _predict(assigner: SegmentAssigner, X: np.ndarray) -> np.ndarray:
    parts = [assigner.predict_vectors(X[i : i + CHUNK]) for i in range(0, len(X), CHUNK)]
    return np.concatenate(parts) if parts else np.zeros(0, int)


def _between_share(X: np.ndarray, labels: np.ndarray, columns: slice) -> float:
    """Share of the between-segment sum of squares (per model column) in `columns`."""
    overall = X.mean(axis=0)
    between = np.zeros(X.shape[1])
    for label in np.unique(labels):
        rows = labels == label
        between += rows.sum() * (X[rows].mean(axis=0) - overall) ** 2
    total = between.sum()
    return float(between[columns].sum() / total) if total > 0 else 0.0


def region_influence(joined: pd.DataFrame, spec: dict) -> dict:
    """Users whose segment changes when every user's region is set to the same baseline
    (the population's mix of regions), and the region columns' weight in the model."""
    assigner = SegmentAssigner(spec)
    X = model_vectors(assigner, joined)
    k = len(assigner.numeric)
    regions = [f"region={c}" for c in assigner.categories]
    region_cols = slice(k, X.shape[1])
    before = _predict(assigner, X)
    neutral = X.copy()
    neutral[:, region_cols] = X[:, region_cols].mean(axis=0) if len(X) else 0.0
    changed = before != _predict(assigner, neutral)
    by_region = pd.Series(changed).groupby(joined["region"].fillna(UNKNOWN).to_numpy()).mean()
    variance = X.var(axis=0)
    return {
        "baseline": "every user's region columns set to the population's mix of regions "
        "(their mean), predicted with the model's published assigner",
        "region_columns": regions,
        "model_columns": int(X.shape[1]),
        "changed_users": int(changed.sum()),
        "changed_share": round(float(changed.mean()), 4) if len(X) else 0.0,
        "changed_share_by_region": {str(r): round(float(v), 4) for r, v in by_region.items()},
        "between_segment_share": round(_between_share(X, before, region_cols), 4),
        "variance_share": round(float(variance[region_cols].sum() / variance.sum()), 4)
        if variance.sum() > 0
        else 0.0,
    }
