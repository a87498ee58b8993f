"""Thompson-sampling bandit over response variants, with logged choice probabilities.

Beta-Bernoulli posteriors per arm. Every choice comes with the probability it
was made with (the Thompson probabilities, estimated by seeded Monte Carlo and
mixed with a minimum share per arm), so policies can be compared offline with
inverse-propensity estimates before anyone switches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def thompson_probabilities(
    successes: np.ndarray,
    failures: np.ndarray,
    rng: np.random.Generator,
    min_share: float = 0.05,
    warmup: int = 50,
    draws: int = 2000,
) -> np.ndarray:
    """Chance each arm is chosen: uniform during warm-up, then Thompson wins mixed with min_share.

    A plain function so the in-memory bandit and the Redis-backed one (state
    shared by every action-server process) choose the same way.
    """
    k = len(successes)
    if successes.sum() + failures.sum() < warmup:
        return np.full(k, 1 / k)
    samples = rng.beta(successes[:, None] + 1, failures[:, None] + 1, size=(k, draws))
    wins = np.bincount(samples.argmax(axis=0), minlength=k) / draws
    return min_share + (1 - k * min_share) * wins


def validate_arms(arms, min_share: float) -> None:
    if len(arms) < 2:
        raise ValueError(f"a bandit needs at least 2 arms, got {len(arms)}")
    if not 0 <= min_share <= 1 / len(arms):
        raise ValueError(f"min_share must be within [0, 1/{len(arms)}], got {min_share}")


@dataclass
class ThompsonBandit:
    arms: tuple[str, ...]
    min_share: float = 0.05  # every arm keeps at least this chance
    warmup: int = 50  # choices made uniformly before adapting
    draws: int = 2000  # Monte Carlo draws for the choice probabilities
    random_state: int | None = None
    successes: np.ndarray = field(init=False)
    failures: np.ndarray = field(init=False)
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        validate_arms(self.arms, self.min_share)
        self.successes = np.zeros(len(self.arms))
        self.failures = np.zeros(len(self.arms))
        self.rng = np.random.default_rng(self.random_state)

    def probabilities(self) -> np.ndarray:
        return thompson_probabilities(
            self.successes, self.failures, self.rng, self.min_share, self.warmup, self.draws
        )

    def predict(self) -> tuple[str, float]:
        """(arm, probability it was chosen with)."""
        p = self.probabilities()
        index = int(self.rng.choice(len(self.arms), p=p))
        return self.arms[index], float(p[index])

    def partial_fit(self, arm: str, reward: float) -> ThompsonBandit:
        """Record one reward in [0, 1]; unknown arms are an error the caller can log."""
        if arm not in self.arms:
            raise KeyError(f"unknown arm {arm!r}; known: {', '.join(self.arms)}")
        index = self.arms.index(arm)
        reward = min(max(float(reward), 0.0), 1.0)
        self.successes[index] += reward
        self.failures[index] += 1 - reward
        return self
