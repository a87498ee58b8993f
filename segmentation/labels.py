"""Persona labels for segments: suggested from distinguishing features, overridable by a file.

A segment's profile is its mean of each feature as a z-score against all
users. Each persona has a signature (core/personas.py: which features should be high or low);
segments are paired with personas by the Hungarian method on signature
scores, and a segment whose best score is weak stays `default`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import linear_sum_assignment

from core.personas import DEFAULT, PERSONAS, SIGNATURES
from segmentation.errors import InputError

MIN_SCORE = 0.5  # mean signed z over the signature's weights


def profiles(features: pd.DataFrame, labels: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """Mean z-score of each numeric feature per segment (rows: segment label)."""
    values = features[columns].astype(float)
    std = values.std(ddof=0).replace(0, 1.0)
    z = (values - values.mean()) / std
    return z.groupby(labels).mean()


def top_features(profile: pd.Series, n: int = 5) -> list[list]:
    ordered = profile.abs().sort_values(ascending=False).index[:n]
    return [[name, round(float(profile[name]), 2)] for name in ordered]


def suggest_personas(z_profiles: pd.DataFrame) -> dict[object, str]:
    """Segment label -> persona (or default when no signature fits well)."""
    personas = list(SIGNATURES)
    score = np.zeros((len(z_profiles), len(personas)))
    for j, persona in enumerate(personas):
        weights = SIGNATURES[persona]
        cols = [c for c in weights if c in z_profiles.columns]
        total = sum(abs(weights[c]) for c in cols) or 1.0
        score[:, j] = sum(z_profiles[c].fillna(0).to_numpy() * weights[c] for c in cols) / total
    rows, cols = linear_sum_assignment(-score)
    out = {label: DEFAULT for label in z_profiles.index}
    for r, c in zip(rows, cols, strict=True):
        if score[r, c] >= MIN_SCORE:
            out[z_profiles.index[r]] = personas[c]
    return out


def load_labels_file(path: str | Path) -> dict[str, str]:
    """YAML mapping of segment id to persona, e.g. `seg-03: bargain_hunter`."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read labels file ({exc.strerror})", str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError("invalid YAML", str(path), mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise InputError(
            "expected a mapping of segment id to persona, e.g. 'seg-03: bargain_hunter'",
            str(path),
        )
    for seg, persona in data.items():
        if persona not in PERSONAS:
            raise InputError(
                f"segment {seg!r}: unknown persona {persona!r}; use one of {', '.join(PERSONAS)}",
                str(path),
            )
    return {str(k): str(v) for k, v in data.items()}
