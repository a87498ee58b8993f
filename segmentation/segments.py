"""What a trained model records about its segments, the same code for both engines.

An engine fits a model and aggregates per segment (scikit-learn with pandas,
Spark with SQL). From those aggregates on, the checks and their messages, the
stable ids, personas, model.json's fields and the assigner spec come from
here, so `segment publish` and `segment report` cannot tell the engines apart.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.traits import MAPPING, from_profile
from segmentation.assign import model_spec
from segmentation.errors import InputError
from segmentation.features import NUMERIC_COLUMNS
from segmentation.labels import suggest_personas, top_features
from segmentation.matching import match_segments
from segmentation.preprocess import compile_preprocessor, feature_names

SILHOUETTE_SAMPLE = 10_000
DISTINCT_SAMPLE = 50_000  # rows checked for "fewer distinct users than k"


def check_trainable(
    rows: int, k: int, path: str, identical: Callable[[], bool], distinct: Callable[[], int]
) -> None:
    """Refuse data that cannot form k segments; the engine counts lazily, cheapest first."""
    if rows < 2:
        raise InputError(f"{rows} user(s): at least 2 are needed to form segments", path)
    if identical():
        raise InputError("all users have identical features: there is nothing to segment", path)
    found = distinct()
    if found < k:
        raise InputError(
            f"only {found} distinct users for k={k}; lower --k to at most {found}", path
        )


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


@dataclass(frozen=True)
class SegmentStats:
    """Per-label aggregates (rows 0..k-1): `profile` the mean train.matching_space features,
    `spread` their standard deviation over all users, `z` labels.profiles, `counts` users."""

    profile: pd.DataFrame
    spread: np.ndarray
    z: pd.DataFrame
    counts: np.ndarray


@dataclass(frozen=True)
class Fitted:
    """An engine's fit, as far as model.json and the assigner spec need it."""

    algorithm: str
    params: dict
    model: object  # SegmentModel or SparkSegmentModel: merges_, label_map_, centres
    pipeline: object  # the fitted make_preprocessor() ColumnTransformer
    scores: dict
    stats: SegmentStats
    n_users: int
    fingerprint: str


@dataclass(frozen=True)
class Described:
    ids: list[str]  # segment id per label
    personas: dict[str, str]  # segment id -> persona
    meta: dict  # model.json, without "moved"
    spec: dict  # assigner.json: what `segment publish` publishes


def params(
    algorithm: str, k: int, covariance_type: str, min_share: float, random_state: int
) -> dict:
    return {
        "n_clusters": k,
        "covariance_type": covariance_type if algorithm == "gmm" else None,
        "min_share": min_share,
        "random_state": random_state,
    }


def describe_segments(
    stats: SegmentStats, previous: dict | None, labels_override: dict[str, str] | None
) -> tuple[list[str], dict[str, str], list[dict]]:
    """Stable ids (matched to the previous model's), personas and per-segment metadata."""
    profile, z, counts = stats.profile, stats.z, stats.counts
    prev_profiles = {
        s["id"]: np.array([s["profile"].get(c, np.nan) for c in profile.columns])
        for s in (previous or {}).get("segments", [])
    }
    ids, distances = match_segments(profile.to_numpy(), stats.spread, prev_profiles)
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
            "traits": from_profile(
                z.loc[i].to_dict(), profile.loc[i].to_dict(), personas[ids[i]]
            ).as_dict(),
            "profile": {c: round(float(v), 6) for c, v in profile.loc[i].items()},
            "matched_distance": distances.get(ids[i]),
        }
        for i in range(len(ids))
    ]
    return ids, personas, seg_meta


def describe(
    fitted: Fitted, previous: dict | None, labels_override: dict[str, str] | None
) -> Described:
    """Ids, personas, model.json's fields and the assigner spec of a fit."""
    ids, personas, segments = describe_segments(fitted.stats, previous, labels_override)
    min_share = fitted.params["min_share"]
    meta = {
        "algorithm": fitted.algorithm,
        "params": fitted.params,
        "scores": fitted.scores,
        "features": [*NUMERIC_COLUMNS, "region"],
        "model_features": feature_names(fitted.pipeline),
        "data_fingerprint": fitted.fingerprint,
        "n_users": fitted.n_users,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "code_version": code_version(),
        "segments": segments,
        "trait_mapping": MAPPING,
        "merges": [
            {
                "merged": f"cluster {m['raw_cluster']} (under {min_share:.0%})",
                "into": ids[m["into"]],
                "share": round(m["share"], 4),
            }
            for m in fitted.model.merges_
        ],
        "hierarchical_note": None,
        "previous_version": (previous or {}).get("version"),
    }
    spec = {
        "preprocess": compile_preprocessor(fitted.pipeline),
        "model": model_spec(fitted.model),
        "segments": ids,
        "personas": personas,
    }
    return Described(ids, personas, meta, spec)
