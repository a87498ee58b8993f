"""Deterministic, sticky experiment assignment as pure functions.

A user's position in an experiment is a hash of the experiment key and the
user id mapped to [0, 1); variants own consecutive ranges sized by their
weights. The same user always lands in the same place, so assignment needs no
storage; stickiness across weight changes is the caller's job (record the
first exposure and reuse it).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

NOT_IN_EXPERIMENT = None  # "not assigned" is a value, not an exception


def fnv1a32(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def position(experiment_key: str, user_id: str) -> float:
    """Where a user falls in an experiment, uniform in [0, 1) and stable forever."""
    return (fnv1a32(f"{experiment_key}:{user_id}") % 10_000) / 10_000


def repair_weights(weights: Sequence[float]) -> list[float]:
    """Weights as shares summing to 1; negative or non-numeric ones count as 0 (warned)."""
    clean = []
    for w in weights:
        try:
            value = float(w)
        except (TypeError, ValueError):
            value = 0.0
        clean.append(value if value > 0 and value == value else 0.0)
    total = sum(clean)
    if total <= 0:
        logger.warning("experiment weights %r are unusable; splitting traffic equally", weights)
        return [1 / len(clean)] * len(clean) if clean else []
    if abs(total - 1) > 1e-9 or clean != list(weights):
        logger.warning(
            "experiment weights %r do not sum to 1; using %r",
            weights,
            [round(w / total, 6) for w in clean],
        )
    return [w / total for w in clean]


def bucket_ranges(weights: Sequence[float], coverage: float = 1.0) -> list[tuple[float, float]]:
    """Consecutive [start, end) ranges, one per variant; `coverage` < 1 leaves users out."""
    coverage = min(max(coverage, 0.0), 1.0)
    ranges, start = [], 0.0
    for w in repair_weights(weights):
        end = start + w * coverage
        ranges.append((start, end))
        start = end
    return ranges


def choose_variant(n: float, ranges: Sequence[tuple[float, float]]) -> int | None:
    for index, (start, end) in enumerate(ranges):
        if start <= n < end:
            return index
    return NOT_IN_EXPERIMENT


@dataclass(frozen=True)
class Experiment:
    key: str
    variants: tuple[str, ...]
    weights: tuple[float, ...]
    personas: tuple[str, ...] = ()  # empty: everyone is eligible
    coverage: float = 1.0


def assign(experiment: Experiment, user_id: str, persona: str) -> str | None:
    """The variant for this user, or None when not eligible or outside the coverage."""
    if experiment.personas and persona not in experiment.personas:
        return NOT_IN_EXPERIMENT
    index = choose_variant(
        position(experiment.key, user_id), bucket_ranges(experiment.weights, experiment.coverage)
    )
    return NOT_IN_EXPERIMENT if index is None else experiment.variants[index]
