"""Which wording (arm) a turn gets: the user's experiment variant, else the persona's bandit.

Experiments come first so their comparison stays clean; users outside every
experiment feed the Thompson-sampling bandit of their persona. Either way the
choice comes with the probability it was made with, for offline evaluation.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from experiments.assignment import repair_weights
from experiments.bandit import thompson_probabilities
from experiments.config import ExperimentConfigError, ExperimentSpec, load_experiments
from experiments.decisions import Attribution, DecisionStore
from experiments.exposures import ExposureStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BanditSettings:
    enabled: bool = True
    min_share: float = 0.1  # every arm keeps at least this chance
    warmup: int = 30  # rated decisions per (variant, persona) before the bandit adapts
    draws: int = 1000  # Monte Carlo draws for the choice probabilities
    refresh_s: float = 1.0  # how long a process reuses the shared state it read
    conversion_intents: tuple[str, ...] = ("affirm",)  # reward the decision just before


def load_bandit_settings(path: str | Path) -> BanditSettings:
    """The optional `bandit:` mapping of experiments.yml; defaults when absent."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return BanditSettings()
    except (OSError, yaml.YAMLError) as exc:
        raise ExperimentConfigError(f"{path}: cannot read the bandit settings ({exc})") from None
    section = raw.get("bandit") if isinstance(raw, dict) else None
    if section is None:
        return BanditSettings()
    if not isinstance(section, dict) or set(section) - set(BanditSettings.__dataclass_fields__):
        raise ExperimentConfigError(
            f"{path}: 'bandit' takes enabled, min_share, warmup, draws, refresh_s and "
            "conversion_intents only"
        )
    try:
        settings = BanditSettings(
            enabled=bool(section.get("enabled", True)),
            min_share=float(section.get("min_share", 0.1)),
            warmup=int(section.get("warmup", 30)),
            draws=int(section.get("draws", 1000)),
            refresh_s=float(section.get("refresh_s", 1.0)),
            conversion_intents=_names(section.get("conversion_intents", ["affirm"])),
        )
    except (TypeError, ValueError):
        raise ExperimentConfigError(
            f"{path}: 'bandit' values must be numbers (conversion_intents: a list of intents)"
        ) from None
    if (
        not 0 <= settings.min_share <= 0.5
        or settings.warmup < 0
        or settings.draws < 10
        or not 0 <= settings.refresh_s <= 60
    ):
        raise ExperimentConfigError(
            f"{path}: bandit needs 0 <= min_share <= 0.5, warmup >= 0, draws >= 10 "
            "and 0 <= refresh_s <= 60"
        )
    return settings


def _names(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("conversion_intents must be a list of intent names")
    return tuple(value)


@dataclass(frozen=True)
class Choice:
    arm: str
    policy: str  # "experiment", "bandit" or "fixed"
    propensity: float
    experiments: dict[str, str] = field(default_factory=dict)  # newly or already exposed


FIXED = "fixed"
# A purchase or add-to-cart converts experiments configured with {purchase: any} or
# {add_to_cart: any}.
ANY = "any"


def pick(arms: tuple[str, ...], shares: tuple[float, ...], u: float) -> tuple[str, str, float]:
    """(arm, "bandit", its probability) for a uniform draw u in [0, 1); plain Python is
    ten times faster than numpy for a handful of arms."""
    total = 0.0
    for arm, share in zip(arms, shares, strict=True):
        total += share
        if u < total:
            return arm, "bandit", share
    return arms[-1], "bandit", shares[-1]


def fixed(arm: str = "base") -> Choice:
    return Choice(arm, FIXED, 1.0)


class ArmChooser:
    def __init__(
        self,
        decisions: DecisionStore | None,
        exposures: ExposureStore | None,
        experiments: Mapping[str, ExperimentSpec] | None = None,
        settings: BanditSettings | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.decisions, self.exposures = decisions, exposures
        self.experiments = dict(experiments or {})
        self.settings = settings or BanditSettings()
        self.rng = rng or np.random.default_rng()
        # (variant, persona) -> (read at, arms, choice probabilities)
        self._probabilities: dict[tuple[str, str], tuple[float, tuple[str, ...], tuple]] = {}

    async def choose(
        self,
        response: str,
        variant: str,
        arms: tuple[str, ...],
        user: str,
        persona: str,
        exposed: Mapping[str, str] | None = None,
    ) -> Choice:
        """`exposed`: the tracker's record of this user's variants (saves the Redis lookup)."""
        if len(arms) < 2 or self.decisions is None:
            return fixed(arms[0] if arms else "base")
        for spec in self.experiments.values():
            if spec.response != response or not set(spec.experiment.variants) <= set(arms):
                continue
            known = (exposed or {}).get(spec.key)
            if known in spec.experiment.variants:
                arm = known
            else:
                recorded = (
                    await self.exposures.expose(spec, user, persona) if self.exposures else None
                )
                if recorded is None:
                    continue
                arm = recorded[0]
            shares = repair_weights(spec.experiment.weights)
            weights = dict(zip(spec.experiment.variants, shares, strict=True))
            return Choice(arm, "experiment", weights.get(arm, 1.0), {spec.key: arm})
        if not self.settings.enabled:
            return fixed(arms[0])
        p = await self.probabilities(variant, persona, arms)
        return Choice(*pick(arms, p, self.rng.random()))

    async def probabilities(
        self, variant: str, persona: str, arms: tuple[str, ...]
    ) -> tuple[float, ...]:
        """Choice probabilities from the shared state, re-read at most every refresh_s."""
        key = (variant, persona)
        now = time.monotonic()
        cached = self._probabilities.get(key)
        if cached and cached[1] == arms and now - cached[0] < self.settings.refresh_s:
            return cached[2]
        successes, failures = await self.decisions.bandit_state(variant, persona, arms)
        p = thompson_probabilities(
            successes,
            failures,
            self.rng,
            self.settings.min_share,
            self.settings.warmup,
            self.settings.draws,
        )
        if len(self._probabilities) > 4096:
            self._probabilities.clear()
        shares = tuple(float(x) for x in p / p.sum())
        self._probabilities[key] = (now, arms, shares)
        return shares

    async def convert(
        self,
        user: str,
        exposed: Mapping[str, str],
        event: Mapping[str, str],
        now: float | None = None,
    ) -> list[str]:
        """Record conversions of this user's experiments that `event` completes; their keys.
        `now`: when the event happened, if not just now (exposure must come before it)."""
        if self.exposures is None:
            return []
        done = []
        for key in exposed:
            spec = self.experiments.get(key)
            if spec is None or not spec.conversion.items() <= event.items():
                continue
            if await self.exposures.convert(spec, user, now):
                done.append(key)
        return done

    async def attribute(
        self, user: str, conversion: str, at: float, window_s: float, event_id: str
    ) -> tuple[Attribution, list[str]]:
        """A purchase or add-to-cart at `at`: rewards the user's latest decision within
        `window_s` before it (once), and when there is one converts the user's experiments
        that convert on `conversion`; returns what happened and the experiments converted."""
        if self.decisions is None:
            return Attribution("unattributed"), []
        outcome = await self.decisions.attribute(user, conversion, at, window_s, event_id)
        if not outcome.decision:
            return outcome, []
        every = dict.fromkeys(self.experiments, "")  # the exposure store knows who saw what
        return outcome, await self.convert(user, every, {conversion: ANY}, now=at)


def chooser_for(client, namespace: str, experiments_path: str | Path) -> ArmChooser:
    """Decisions and exposures on `client`, with the experiments and bandit settings of
    experiments.yml (none when the file is absent), read once: what the action server
    chooses with and what the feature worker attributes purchases to."""
    path = Path(experiments_path)
    return ArmChooser(
        DecisionStore(client, namespace),
        ExposureStore(client, namespace),
        load_experiments(path) if path.exists() else {},
        load_bandit_settings(path),
    )
