"""The numbers behind the report: segment order, samples, profiles, metric series, 2-D maps.

No drawing and no HTML here (segmentation/report_figures.py and report.py), so
what the report shows can be checked as plain arrays.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

MAX_HEATMAP_FEATURES = 40
MAX_TSNE_ROWS = 2000
MIN_TSNE_ROWS = 10
KMEANS_FAMILY = ("kmeans", "minibatch_kmeans")


def check_shapes(X: np.ndarray, names: list[str], labels: np.ndarray) -> None:
    """Mismatched inputs would silently mislabel charts, so refuse them up front."""
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    if len(names) != X.shape[1]:
        raise ValueError(f"{len(names)} feature names for {X.shape[1]} columns of X")
    if labels.shape != (X.shape[0],):
        raise ValueError(f"{labels.shape[0] if labels.ndim else 0} labels for {X.shape[0]} rows")


def number(value: Any) -> float | None:
    """A finite float, or None for missing/NaN/non-numeric metrics."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def ratio(part: Any, whole: float | None) -> float | None:
    value = number(part)
    return value / whole if value is not None and whole else None


# ---------- segments and sampling ----------


def segment_order(labels: np.ndarray, meta_segments: list[dict[str, Any]]) -> list[str]:
    """Segments in model_meta order, then any label not listed there, so nothing is dropped."""
    listed = list(dict.fromkeys(str(s["id"]) for s in meta_segments if "id" in s))
    extra = sorted(set(labels.tolist()) - set(listed))
    return [*listed, *extra]


def segments_by_id(meta_segments: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(s["id"]): s for s in meta_segments if "id" in s}


def segment_counts(labels: np.ndarray, order: list[str]) -> list[int]:
    return [int(np.sum(labels == sid)) for sid in order]


def stratified_sample(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted row indices, at most `size`; every segment keeps a row so small ones stay visible."""
    n = len(labels)
    if n <= size:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    ids, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if len(ids) > size:
        return np.sort(rng.choice(n, size=max(size, 0), replace=False))
    spare = size - len(ids)
    quotas = 1 + np.floor((counts - 1) * spare / (n - len(ids))).astype(int)
    picked = [
        rng.choice(np.flatnonzero(inverse == i), size=quota, replace=False)
        for i, quota in enumerate(quotas)
    ]
    return np.sort(np.concatenate(picked))


# ---------- model selection ----------


def candidate_label(candidate: dict[str, Any]) -> str:
    algorithm = str(candidate.get("algorithm") or "?")
    cov = candidate.get("covariance_type")
    return f"{algorithm} ({cov})" if cov else algorithm


def is_chosen(candidate: dict[str, Any], chosen: dict[str, Any]) -> bool:
    return (
        bool(chosen)
        and candidate.get("algorithm") == chosen.get("algorithm")
        and number(candidate.get("k")) == number(chosen.get("k"))
        and (candidate.get("covariance_type") or None) == (chosen.get("covariance_type") or None)
    )


def metric_series(
    candidates: list[dict[str, Any]], metric: str
) -> dict[str, list[tuple[int, float]]]:
    """(k, value) points per algorithm/covariance line, sorted by k, missing values skipped."""
    series: dict[str, list[tuple[int, float]]] = {}
    for candidate in candidates:
        k, value = number(candidate.get("k")), number(candidate.get(metric))
        if k is not None and value is not None:
            series.setdefault(candidate_label(candidate), []).append((int(k), value))
    return {label: sorted(points) for label, points in series.items()}


# ---------- feature profiles ----------


def segment_means(X: np.ndarray, labels: np.ndarray, order: list[str]) -> np.ndarray:
    """Mean of each preprocessed feature per segment (rows in `order`, NaN for empty segments)."""
    means = np.full((len(order), X.shape[1]), np.nan)
    for i, sid in enumerate(order):
        mask = labels == sid
        if mask.any():
            means[i] = X[mask].mean(axis=0)
    return means


def widest_features(means: np.ndarray, limit: int = MAX_HEATMAP_FEATURES) -> np.ndarray:
    """Columns whose segment means differ most, in original order so one-hot groups stay put."""
    if means.shape[1] <= limit:
        return np.arange(means.shape[1])
    spread = np.nan_to_num(np.nanmax(means, axis=0) - np.nanmin(means, axis=0))
    return np.sort(np.argsort(-spread, kind="stable")[:limit])


# ---------- 2-D maps ----------


def pca_map(X: np.ndarray, seed: int) -> tuple[np.ndarray, tuple[str, str]]:
    """The first two principal components of X's rows, and axis labels with their variance."""
    n_components = min(2, X.shape[1], len(X))
    pca = PCA(n_components=n_components, random_state=seed)
    coords = pca.fit_transform(X)
    ratios = [f"{100 * r:.0f}%" for r in np.nan_to_num(pca.explained_variance_ratio_)]
    if n_components < 2:
        coords = np.column_stack([coords, np.zeros(len(coords))])
        ratios.append("n/a")
    return coords, (f"PC1 ({ratios[0]} of variance)", f"PC2 ({ratios[1]} of variance)")


def tsne_perplexity(n_rows: int) -> int:
    """TSNE requires perplexity < n_samples; 30 is the usual value for large samples."""
    return min(30, max(5, (n_rows - 1) // 3))


def tsne_map(X: np.ndarray, seed: int) -> np.ndarray:
    """A t-SNE embedding of X's rows (perplexity tsne_perplexity(len(X)))."""
    tsne = TSNE(
        n_components=2,
        init="pca",
        learning_rate="auto",
        perplexity=tsne_perplexity(len(X)),
        random_state=seed,
    )
    with warnings.catch_warnings():
        # sklearn 1.1 announces its 1.2 rescaling of the PCA init; nothing for us to act on.
        warnings.filterwarnings("ignore", "The PCA initialization in TSNE", FutureWarning)
        return tsne.fit_transform(X)
