"""Simulated users who prefer different variants per persona: is the bandit learning?"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from experiments.bandit import ThompsonBandit
from experiments.offline import Logged

# Probability that a user of each persona reacts positively to each variant.
PREFERENCES: dict[str, dict[str, float]] = {
    "bargain_hunter": {"price_first": 0.30, "specs_first": 0.08, "story": 0.12},
    "tech_enthusiast": {"price_first": 0.10, "specs_first": 0.32, "story": 0.12},
    "casual_browser": {"price_first": 0.12, "specs_first": 0.06, "story": 0.25},
}
ARMS = ("price_first", "specs_first", "story")


@dataclass
class Run:
    regret: np.ndarray  # cumulative regret per step
    logs: list[Logged]


def simulate(policy: str, steps: int, seed: int = 0) -> Run:
    """`policy`: "thompson" (one bandit per persona) or "uniform"."""
    rng = np.random.default_rng(seed)
    bandits = {p: ThompsonBandit(ARMS, random_state=seed + i) for i, p in enumerate(PREFERENCES)}
    personas = list(PREFERENCES)
    regret, logs = np.zeros(steps), []
    total = 0.0
    for t in range(steps):
        persona = personas[rng.integers(len(personas))]
        if policy == "thompson":
            arm, propensity = bandits[persona].predict()
        else:
            arm, propensity = ARMS[rng.integers(len(ARMS))], 1 / len(ARMS)
        reward = float(rng.random() < PREFERENCES[persona][arm])
        if policy == "thompson":
            bandits[persona].partial_fit(arm, reward)
        total += max(PREFERENCES[persona].values()) - PREFERENCES[persona][arm]
        regret[t] = total
        logs.append(Logged(persona, arm, propensity, reward))
    return Run(regret, logs)
