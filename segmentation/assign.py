"""Assign one user's features to a published segment in microseconds, without pandas or pickle.

The spec is plain JSON (published beside each segment version): the compiled
preprocessing arrays and either nearest-centre or Gaussian-mixture parameters.
Loading it cannot execute code, unlike a pickled model read from Redis.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

LOG_2PI = math.log(2 * math.pi)


class SegmentAssigner:
    def __init__(self, spec: Mapping) -> None:
        pre = spec["preprocess"]
        self.numeric: list[str] = list(pre["numeric"])
        self.median = np.asarray(pre["median"], float)
        self.log = np.asarray(pre["log"], bool)
        self.mean = np.asarray(pre["mean"], float)
        self.scale = np.asarray(pre["scale"], float)
        self.categorical: str = pre["categorical"]
        self.categories: dict[str, int] = {c: i for i, c in enumerate(pre["categories"])}
        model = spec["model"]
        self.kind: str = model["kind"]
        self.label_map = np.asarray(model["label_map"], int)
        self.segments: list[str] = list(spec["segments"])
        if self.kind == "centroid":
            self.centers = np.asarray(model["centers"], float)
            self._c2 = (self.centers**2).sum(axis=1)
        elif self.kind == "gmm":
            self.cov = model["covariance_type"]
            self.log_weights = np.log(np.asarray(model["weights"], float))
            self.means = np.asarray(model["means"], float)
            self.prec_chol = np.asarray(model["precisions_cholesky"], float)
        else:
            raise ValueError(f"unknown model kind {self.kind!r}")

    def transform(self, features: Mapping[str, object]) -> np.ndarray:
        """One user's raw features (the `segment features` columns) as the model's vector."""
        raw = np.array([_float(features.get(name)) for name in self.numeric])
        raw = np.where(np.isnan(raw), self.median, raw)
        raw = np.where(self.log, np.log1p(np.clip(raw, 0, None)), raw)
        onehot = np.zeros(len(self.categories))
        index = self.categories.get(str(features.get(self.categorical) or "unknown"))
        if index is not None:
            onehot[index] = 1.0
        return np.concatenate([(raw - self.mean) / self.scale, onehot])

    def transform_many(self, rows: list[Mapping[str, object]]) -> np.ndarray:
        """`transform` for many users at once (the feature worker's batches)."""
        raw = np.array([[_float(r.get(name)) for name in self.numeric] for r in rows], float)
        raw = raw.reshape(len(rows), len(self.numeric))
        raw = np.where(np.isnan(raw), self.median, raw)
        raw = np.where(self.log, np.log1p(np.clip(raw, 0, None)), raw)
        onehot = np.zeros((len(rows), len(self.categories)))
        for i, row in enumerate(rows):
            index = self.categories.get(str(row.get(self.categorical) or "unknown"))
            if index is not None:
                onehot[i, index] = 1.0
        return np.hstack([(raw - self.mean) / self.scale, onehot])

    def predict_many(self, rows: list[Mapping[str, object]]) -> list[str]:
        if not rows:
            return []
        return [self.segments[i] for i in self.predict_vectors(self.transform_many(rows))]

    def _raw_label(self, x: np.ndarray) -> int:
        if self.kind == "centroid":
            return int(np.argmin(self._c2 - 2 * self.centers @ x))
        return int(np.argmax(self._gmm_log_prob(x[None, :])[0]))

    def _gmm_log_prob(self, X: np.ndarray) -> np.ndarray:
        d = X.shape[1]
        pc = self.prec_chol
        if self.cov == "full":
            y = np.einsum("nd,kde->nke", X, pc) - np.einsum("kd,kde->ke", self.means, pc)[None]
            log_det = np.log(np.diagonal(pc, axis1=1, axis2=2)).sum(axis=1)
            maha = (y**2).sum(axis=2)
        elif self.cov == "tied":
            y = (X @ pc)[:, None, :] - (self.means @ pc)[None, :, :]
            log_det = np.full(self.means.shape[0], np.log(np.diag(pc)).sum())
            maha = (y**2).sum(axis=2)
        elif self.cov == "diag":
            log_det = np.log(pc).sum(axis=1)
            maha = (((X[:, None, :] - self.means[None]) * pc[None]) ** 2).sum(axis=2)
        else:  # spherical
            log_det = d * np.log(pc)
            maha = ((X[:, None, :] - self.means[None]) ** 2).sum(axis=2) * (pc**2)[None]
        return -0.5 * (d * LOG_2PI + maha) + log_det[None] + self.log_weights[None]

    def predict_one(self, features: Mapping[str, object]) -> str:
        return self.segments[self.label_map[self._raw_label(self.transform(features))]]

    def predict_vectors(self, X: np.ndarray) -> np.ndarray:
        """Final label index per row of already-transformed X (used to check the spec)."""
        if self.kind == "centroid":
            raw = np.argmin(self._c2[None] - 2 * X @ self.centers.T, axis=1)
        else:
            raw = np.argmax(self._gmm_log_prob(X), axis=1)
        return self.label_map[raw]


def _float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def model_spec(model) -> dict:
    """The JSON-safe parameters of a fitted SegmentModel."""
    if model.algorithm == "gmm":
        mix = model.mixture_
        return {
            "kind": "gmm",
            "covariance_type": mix.covariance_type,
            "weights": mix.weights_.tolist(),
            "means": mix.means_.tolist(),
            "precisions_cholesky": mix.precisions_cholesky_.tolist(),
            "label_map": model.label_map_.tolist(),
        }
    return {
        "kind": "centroid",
        "centers": model.raw_centers_.tolist(),
        "label_map": model.label_map_.tolist(),
    }
