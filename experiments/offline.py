"""Offline policy evaluation from logged choices: inverse-propensity and self-normalised."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Logged:
    context: str  # e.g. the persona
    arm: str
    propensity: float  # probability the logging policy chose this arm
    reward: float


def ips(logs: Sequence[Logged], target: Callable[[str, str], float]) -> float:
    """Mean of reward * target(arm | context) / propensity (unbiased, high variance)."""
    if not logs:
        return float("nan")
    return sum(r.reward * target(r.context, r.arm) / r.propensity for r in logs) / len(logs)


def snips(logs: Sequence[Logged], target: Callable[[str, str], float]) -> float:
    """Self-normalised IPS: divides by the sum of weights (biased, much lower variance)."""
    weights = [target(r.context, r.arm) / r.propensity for r in logs]
    total = sum(weights)
    if total == 0:
        return float("nan")
    return sum(w * r.reward for w, r in zip(weights, logs, strict=True)) / total
