"""Training: fit, guard against tiny segments, keep identities stable, label personas."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from segmentation.assign import model_spec
from segmentation.errors import InputError, SegmentationError
from segmentation.features import NUMERIC_COLUMNS
from segmentation.labels import profiles, suggest_personas, top_features
from segmentation.matching import match_segments
from segmentation.models import SegmentModel
from segmentation.preprocess import (
    LOG_COLUMNS,
    as_frame,
    compile_preprocessor,
    feature_names,
    make_preprocessor,
)

SILHOUETTE_SAMPLE = 10_000


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
    space[LOG_COLUMNS] = np.log1p(space[LOG_COLUMNS].clip(lower=0))
    return space


def fingerprint(features: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(features, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


def code_version() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).parent,
            timeout=5,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _check_trainable(X: np.ndarray, k: int, path: str) -> None:
    n = X.shape[0]
    if n < 2:
        raise InputError(f"{n} user(s): at least 2 are needed to form segments", path)
    if np.allclose(X.std(axis=0), 0):
        raise InputError("all users have identical features: there is nothing to segment", path)
    sample = X[np.random.default_rng(0).choice(n, min(n, 50_000), replace=False)]
    distinct = np.unique(sample.round(9), axis=0).shape[0]
    if distinct < k:
        raise InputError(
            f"only {distinct} distinct users for k={k}; lower --k to at most " f"{distinct}", path
        )


def describe_segments(
    profile: pd.DataFrame,
    spread: np.ndarray,
    z: pd.DataFrame,
    counts: np.ndarray,
    previous: dict | None,
    labels_override: dict[str, str] | None,
) -> tuple[list[str], dict[str, str], list[dict]]:
    """Stable ids, personas and the per-segment metadata, from per-label aggregates.

    profile: mean matching_space features per label (rows 0..k-1); spread: their standard
    deviation over all users; z: labels.profiles; counts: users per label. Shared by the
    scikit-learn and Spark engines, which compute the aggregates differently.
    """
    prev_profiles = {
        s["id"]: np.array([s["profile"].get(c, np.nan) for c in profile.columns])
        for s in (previous or {}).get("segments", [])
    }
    ids, distances = match_segments(profile.to_numpy(), spread, prev_profiles)
    personas = {ids[label]: persona for label, persona in suggest_personas(z).items()}
    for seg, persona in (labels_override or {}).items():
        if seg in personas:
            personas[seg] = persona
    total = counts.sum()
    seg_meta = [
        {
            "id": ids[i],
            "persona": personas[ids[i]],
            "size": int(counts[i]),
            "share": round(float(counts[i] / total), 4),
            "top_features": top_features(z.loc[i]),
            "profile": {c: round(float(v), 6) for c, v in profile.loc[i].items()},
            "matched_distance": distances.get(ids[i]),
        }
        for i in range(len(ids))
    ]
    return ids, personas, seg_meta


def model_meta(
    algorithm: str,
    params: dict,
    scores: dict,
    model_features: list[str],
    data_fingerprint: str,
    n_users: int,
    segments: list[dict],
    merges: list[dict],
    previous: dict | None,
) -> dict:
    """model.json's fields (both engines)."""
    return {
        "algorithm": algorithm,
        "params": params,
        "scores": scores,
        "features": [*NUMERIC_COLUMNS, "region"],
        "model_features": model_features,
        "data_fingerprint": data_fingerprint,
        "n_users": n_users,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code_version": code_version(),
        "segments": segments,
        "merges": merges,
        "hierarchical_note": None,
        "previous_version": (previous or {}).get("version"),
    }


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
    frame = as_frame(features)
    X = pre.fit_transform(frame)
    _check_trainable(X, k, source)
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
    z = profiles(features, labels, NUMERIC_COLUMNS)
    counts = np.bincount(labels, minlength=len(profile))
    ids, personas, seg_meta = describe_segments(
        profile, space.std(ddof=0).to_numpy(), z, counts, previous, labels_override
    )
    segments = np.array(ids)[labels]

    sil_idx = np.random.default_rng(random_state).choice(
        len(X), min(len(X), SILHOUETTE_SAMPLE), replace=False
    )
    two_or_more = len(ids) > 1
    scores = {
        "silhouette": float(silhouette_score(X[sil_idx], labels[sil_idx]))
        if two_or_more and np.unique(labels[sil_idx]).size > 1
        else None,
        "calinski_harabasz": float(calinski_harabasz_score(X, labels)) if two_or_more else None,
        "davies_bouldin": float(davies_bouldin_score(X, labels)) if two_or_more else None,
        "silhouette_sample": int(sil_idx.size),
    }
    assignments = pd.DataFrame(
        {
            "user_id": features["user_id"].astype(str).to_numpy(),
            "segment": segments,
            "persona": [personas[s] for s in segments],
        }
    )
    meta = model_meta(
        algorithm,
        {
            "n_clusters": k,
            "covariance_type": covariance_type if algorithm == "gmm" else None,
            "min_share": min_share,
            "random_state": random_state,
        },
        scores,
        feature_names(pre),
        fingerprint(features),
        len(features),
        seg_meta,
        [
            {
                "merged": f"cluster {m['raw_cluster']} (under {min_share:.0%})",
                "into": ids[m["into"]],
                "share": round(m["share"], 4),
            }
            for m in model.merges_
        ],
        previous,
    )
    meta["hierarchical_note"] = (
        f"Ward clustering was fitted on a sample of {model.max_hierarchical_samples} users; "
        "the rest were assigned to the nearest cluster centre."
        if model.fitted_on_sample_
        else None
    )
    spec = {
        "preprocess": compile_preprocessor(pre),
        "model": model_spec(model),
        "segments": ids,
        "personas": personas,
    }
    return TrainResult(meta, assignments, spec, X, feature_names(pre), pre, model)


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
        "compared_users": int(len(both)),
        "moved_users": int(len(changed)),
        "transitions": [{"from": a, "to": b, "users": int(n)} for (a, b), n in transitions.items()],
    }


def save(result: TrainResult, out_dir: Path, previous_assignments: pd.DataFrame | None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = dict(result.meta)
    joblib.dump(result.pipeline, out_dir / "preprocess.joblib")
    joblib.dump(result.model, out_dir / "model.joblib")
    meta["moved"] = moved(previous_assignments, result.assignments)
    result.assignments.to_csv(out_dir / "assignments.csv", index=False)
    (out_dir / "assigner.json").write_text(json.dumps(result.spec))
    (out_dir / "model.json").write_text(json.dumps(meta, indent=2))
    return out_dir


def load_model_dir(path: str | Path) -> tuple[dict, pd.DataFrame, dict]:
    """(meta, assignments, assigner spec) of a `segment train` output directory."""
    path = Path(path)
    try:
        meta = json.loads((path / "model.json").read_text())
        spec = json.loads((path / "assigner.json").read_text())
        assignments = pd.read_csv(path / "assignments.csv", dtype=str)
    except FileNotFoundError as exc:
        raise InputError(
            f"not a 'segment train' output ({Path(exc.filename).name} missing)", str(path)
        ) from None
    except (ValueError, OSError) as exc:
        raise SegmentationError(f"{path}: cannot read model files ({exc})") from None
    return meta, assignments, spec
