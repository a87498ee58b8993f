"""Traits: what a segment is like, in words the answers are composed from.

A published segment carries a trait profile derived from its centre (`from_profile`, called
by segmentation at train time and stored in the version's audit metadata with
`MAPPING`); the personas are readable names for trait presets (`PRESETS`). Answers are
chosen and composed from traits (responses/composition.py), so a model with any number of
segments gets as many fitting answers, and an analyst can add a segment without writing a
persona.

Scores are in [0, 1]: the logistic of the weighted mean z-score of the features below
(z against all users), so 0.5 is an average shopper. Levels for catalogue conditions:
low below 0.4, high from 0.6, mid between.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from core.dayparts import DAYPARTS
from core.personas import (
    BARGAIN_HUNTER,
    CASUAL_BROWSER,
    DEFAULT,
    FREQUENT_BUYER,
    NEW_VISITOR,
    TECH_ENTHUSIAST,
)

PRICE, NOVELTY, TECH, SIMPLICITY, LOYALTY, EXPERIENCE = (
    "price_sensitivity",
    "novelty",
    "tech_depth",
    "simplicity",
    "loyalty",
    "experience",
)
TRAITS: tuple[str, ...] = (PRICE, NOVELTY, TECH, SIMPLICITY, LOYALTY, EXPERIENCE)
# What a shopper looks for (what leads an answer); experience sets its tone instead.
INTERESTS: tuple[str, ...] = (PRICE, NOVELTY, TECH, SIMPLICITY, LOYALTY)
LEVELS: tuple[str, ...] = ("low", "mid", "high")
LOW, HIGH = 0.4, 0.6
SLOPE = 1.6  # logistic slope on the weighted mean z: z = +1 gives 0.83
DEVICES = ("mobile", "desktop")

# Feature (segmentation/features.py) -> weight of its z-score, per trait.
WEIGHTS: dict[str, dict[str, float]] = {
    PRICE: {"share_deals": 1.0, "avg_order_value": -0.6},
    NOVELTY: {"share_new_arrivals": 1.0, "frequency": 0.3},
    TECH: {"share_specs": 1.0, "avg_order_value": 0.5, "messages_per_session": 0.4},
    SIMPLICITY: {"share_recommendations": 1.0, "share_specs": -0.5, "messages_per_session": -0.3},
    LOYALTY: {"frequency": 0.8, "recency_days": -0.6, "sessions": 0.4, "has_purchases": 0.4},
    EXPERIENCE: {"has_purchases": 1.0, "tenure_days": 0.8, "frequency": 0.3},
}
# What the audit metadata records about the mapping (meta field "trait_mapping").
MAPPING: dict[str, object] = {
    "scores": "logistic(1.6 * weighted mean z-score of the features); 0.5 is average",
    "levels": {"low": f"< {LOW}", "mid": f"{LOW}..{HIGH}", "high": f">= {HIGH}"},
    "weights": WEIGHTS,
    "daypart": "the daypart with the highest share_<daypart> in the segment's centre",
    "device": "mobile when the centre's share_mobile is at least 0.5",
}


@dataclass(frozen=True)
class Traits:
    """Trait scores (in TRAITS order), usual daypart and device, and the nearest preset's
    name. `placed` is False for a shopper no model has placed yet."""

    scores: tuple[float, ...] = (0.5,) * len(TRAITS)
    daypart: str | None = None
    device: str | None = None
    preset: str = DEFAULT
    placed: bool = False

    def score(self, trait: str) -> float:
        return self.scores[TRAITS.index(trait)]

    def level(self, trait: str) -> str:
        value = self.score(trait)
        return "high" if value >= HIGH else "low" if value < LOW else "mid"

    def ranked(self, among: tuple[str, ...] = INTERESTS) -> tuple[str, ...]:
        """Interests (or `among`) from the strongest to the weakest (ties in TRAITS order)."""
        return tuple(sorted(among, key=lambda t: (-self.score(t), TRAITS.index(t))))

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {t: round(s, 3) for t, s in zip(TRAITS, self.scores, strict=True)}
        out.update(daypart=self.daypart, device=self.device, preset=self.preset)
        return out


def _preset(scores: Mapping[str, float], preset: str) -> Traits:
    return Traits(tuple(scores[t] for t in TRAITS), preset=preset, placed=preset != DEFAULT)


# Personas as readable names for trait presets (an override, a version without traits).
PRESETS: dict[str, Traits] = {
    FREQUENT_BUYER: _preset(
        {PRICE: 0.45, NOVELTY: 0.85, TECH: 0.5, SIMPLICITY: 0.35, LOYALTY: 0.9, EXPERIENCE: 0.9},
        FREQUENT_BUYER,
    ),
    BARGAIN_HUNTER: _preset(
        {PRICE: 0.9, NOVELTY: 0.35, TECH: 0.3, SIMPLICITY: 0.5, LOYALTY: 0.55, EXPERIENCE: 0.6},
        BARGAIN_HUNTER,
    ),
    TECH_ENTHUSIAST: _preset(
        {PRICE: 0.2, NOVELTY: 0.55, TECH: 0.9, SIMPLICITY: 0.1, LOYALTY: 0.5, EXPERIENCE: 0.6},
        TECH_ENTHUSIAST,
    ),
    CASUAL_BROWSER: _preset(
        {PRICE: 0.5, NOVELTY: 0.3, TECH: 0.2, SIMPLICITY: 0.85, LOYALTY: 0.3, EXPERIENCE: 0.4},
        CASUAL_BROWSER,
    ),
    NEW_VISITOR: _preset(
        {PRICE: 0.5, NOVELTY: 0.45, TECH: 0.3, SIMPLICITY: 0.7, LOYALTY: 0.1, EXPERIENCE: 0.1},
        NEW_VISITOR,
    ),
    DEFAULT: Traits(),
}
UNPLACED = PRESETS[DEFAULT]


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-SLOPE * x))


def from_profile(
    z: Mapping[str, float], raw: Mapping[str, float] | None = None, preset: str = DEFAULT
) -> Traits:
    """A segment's traits from its centre: `z` the mean z-score of each feature, `raw` the
    centre's own values (shares of dayparts and mobile). Missing features count as
    average."""
    scores = []
    for trait in TRAITS:
        weights = WEIGHTS[trait]
        total = sum(abs(w) for w in weights.values())
        mean = sum(_finite(z.get(f)) * w for f, w in weights.items()) / total
        scores.append(round(_logistic(mean), 3))
    raw = raw or {}
    shares = {d: _finite(raw.get(f"share_{d}")) for d in DAYPARTS}
    daypart = max(DAYPARTS, key=lambda d: shares[d]) if any(shares.values()) else None
    mobile = raw.get("share_mobile")
    device = None if mobile is None or not math.isfinite(mobile) else DEVICES[mobile < 0.5]
    return Traits(tuple(scores), daypart, device, preset, placed=True)


class TraitError(ValueError):
    """Stored traits are unusable; the caller falls back to the segment's preset."""


def parse_traits(raw: object, preset: str = DEFAULT) -> Traits:
    """Traits from a version's metadata (JSON). Unknown names are ignored; a missing or
    out-of-range score raises TraitError naming it."""
    if not isinstance(raw, Mapping):
        raise TraitError("traits must be a mapping of trait to score")
    scores = []
    for trait in TRAITS:
        value = raw.get(trait)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TraitError(f"trait {trait!r} is missing or not a number")
        if not 0.0 <= float(value) <= 1.0:
            raise TraitError(f"trait {trait!r} is {value}, outside 0..1")
        scores.append(float(value))
    daypart = raw.get("daypart") if raw.get("daypart") in DAYPARTS else None
    device = raw.get("device") if raw.get("device") in DEVICES else None
    preset = preset if preset in PRESETS else DEFAULT
    return Traits(tuple(scores), daypart, device, preset, placed=True)


def listed_traits(listed: Mapping) -> tuple[str, Traits, str | None]:
    """A version's segment entry (model.json, the meta hash's `segments`): its persona, its
    traits, and why the persona's preset stands in for them, if it does (a version
    published before traits, unusable traits)."""
    persona = listed.get("persona")
    persona = persona if persona in PRESETS else DEFAULT
    raw = listed.get("traits")
    if raw is None:
        return persona, PRESETS[persona], "has no traits (published before traits)"
    try:
        return persona, parse_traits(raw, persona), None
    except TraitError as exc:
        return persona, PRESETS[persona], str(exc)


def _finite(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0
