"""Experiments defined in YAML, validated at start-up with errors naming the file and line.

experiments:
  - key: reco-copy
    response: ask_recommendation          # the catalogue response whose arms are tested
    variants: {base: 0.5, story: 0.5}     # arm name: weight (repaired if not summing to 1)
    personas: [bargain_hunter, casual_browser]   # optional; default: everyone
    conversion: {intent: affirm}          # or {feedback: positive}, {purchase: any},
                                          # {add_to_cart: any}
    guardrails: [negative_feedback_rate, satisfaction, messages_per_session, return_7d]
    coverage: 1.0                         # optional share of eligible users
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from core.personas import PERSONAS
from experiments.assignment import Experiment, repair_weights

logger = logging.getLogger(__name__)


class ExperimentConfigError(ValueError):
    """The experiments file is unusable; the message names the file and line."""


# Guardrail metrics the report knows how to compute (experiments/guardrails.py).
GUARDRAILS = (
    *("negative_feedback_rate", "feedback_rate", "satisfaction"),
    *("messages_per_session", "return_7d"),
)
CONVERSION_KINDS = ("intent", "feedback", "purchase", "add_to_cart")
# Shop events the feature worker attributes (realtime/live.py CONVERSIONS). Every one counts,
# so they take one value, the one ArmChooser.attribute matches (experiments/policy.py ANY),
# and stand alone: that call's event names only its own kind.
SHOP_CONVERSIONS = ("purchase", "add_to_cart")
ANY_EVENT = "any"
CONVERSION_FORMS = "{intent: <name>}, {feedback: positive}, {purchase: any} or {add_to_cart: any}"


@dataclass(frozen=True)
class ExperimentSpec:
    experiment: Experiment
    conversion: dict[str, str]
    guardrails: tuple[str, ...]
    response: str | None = None  # catalogue response whose arms the variants name

    @property
    def key(self) -> str:
        return self.experiment.key


def _fail(path: str, line: int | None, message: str) -> ExperimentConfigError:
    where = f"{path}, line {line}" if line else path
    return ExperimentConfigError(f"{where}: {message}")


def load_experiments(path: str | Path) -> dict[str, ExperimentSpec]:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
        root = yaml.compose(text)
    except OSError as exc:
        raise _fail(source, None, f"cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise _fail(
            source,
            mark.line + 1 if mark else None,
            f"invalid YAML ({getattr(exc, 'problem', None) or 'cannot parse'})",
        ) from None
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict) or not isinstance(data.get("experiments"), list):
        raise _fail(source, None, "expected a top-level 'experiments:' list")
    nodes = _item_nodes(root)
    out: dict[str, ExperimentSpec] = {}
    for index, raw in enumerate(data["experiments"]):
        line = nodes[index] if index < len(nodes) else None
        spec = _spec(raw, source, line)
        if spec.experiment.key in out:
            raise _fail(source, line, f"duplicate experiment key {spec.experiment.key!r}")
        out[spec.experiment.key] = spec
    return out


def _item_nodes(root) -> list[int]:
    """1-based line of each item of the experiments list (for error messages)."""
    if root is None or not hasattr(root, "value"):
        return []
    for key, value in root.value:
        if getattr(key, "value", None) == "experiments" and hasattr(value, "value"):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _spec(raw: object, source: str, line: int | None) -> ExperimentSpec:
    if not isinstance(raw, dict):
        raise _fail(source, line, "each experiment must be a mapping")
    key = raw.get("key")
    if not isinstance(key, str) or not key.strip():
        raise _fail(source, line, "experiment needs a non-empty 'key'")
    variants = raw.get("variants")
    if not isinstance(variants, dict) or len(variants) < 2:
        raise _fail(
            source,
            line,
            f"experiment {key!r}: 'variants' must map at least two variant names to weights",
        )
    personas = raw.get("personas") or []
    unknown = [p for p in personas if p not in PERSONAS]
    if unknown:
        raise _fail(
            source,
            line,
            f"experiment {key!r}: unknown personas {', '.join(map(str, unknown))}"
            f"; use {', '.join(PERSONAS)}",
        )
    conversion = _conversion(raw.get("conversion"), key, source, line)
    guardrails = tuple(map(str, raw.get("guardrails") or ()))
    unknown = [g for g in guardrails if g not in GUARDRAILS]
    if unknown:
        raise _fail(
            source,
            line,
            f"experiment {key!r}: unknown guardrails {', '.join(unknown)}; "
            f"use {', '.join(GUARDRAILS)}",
        )
    response = raw.get("response")
    if response is not None and (not isinstance(response, str) or not response.strip()):
        raise _fail(source, line, f"experiment {key!r}: 'response' must be a response name")
    try:
        coverage = float(raw.get("coverage", 1.0))
    except (TypeError, ValueError):
        raise _fail(source, line, f"experiment {key!r}: 'coverage' must be a number") from None
    if not 0 < coverage <= 1:
        raise _fail(source, line, f"experiment {key!r}: 'coverage' must be within (0, 1]")
    raw_weights = list(variants.values())
    weights = repair_weights(raw_weights)  # once, at load: no warning on every turn
    if weights != raw_weights:
        logger.warning(
            "%s, line %s: experiment %r: weights %r repaired to %r",
            source,
            line,
            key,
            raw_weights,
            [round(w, 6) for w in weights],
        )
    experiment = Experiment(
        key, tuple(map(str, variants)), tuple(weights), tuple(personas), coverage
    )
    return ExperimentSpec(experiment, conversion, guardrails, response)


def _conversion(raw: object, key: str, source: str, line: int | None) -> dict[str, str]:
    if not isinstance(raw, dict) or not raw:
        raise _fail(
            source,
            line,
            f"experiment {key!r}: 'conversion' must name an event, e.g. {{intent: affirm}}",
        )
    kinds = [k for k in raw if k not in CONVERSION_KINDS]
    if kinds or raw.get("feedback", "positive") != "positive":
        raise _fail(source, line, f"experiment {key!r}: 'conversion' must be {CONVERSION_FORMS}")
    for kind in SHOP_CONVERSIONS:
        if kind in raw and len(raw) > 1:
            raise _fail(
                source,
                line,
                f"experiment {key!r}: 'conversion' {{{kind}: {ANY_EVENT}}} stands alone; "
                "name no other event beside it",
            )
        if kind in raw and raw[kind] != ANY_EVENT:
            raise _fail(
                source,
                line,
                f"experiment {key!r}: 'conversion' {kind} takes {ANY_EVENT!r} (every "
                f"{kind.replace('_', '-')} counts), not {raw[kind]!r}; "
                f"write {{{kind}: {ANY_EVENT}}}",
            )
    return {str(k): str(v) for k, v in raw.items()}
