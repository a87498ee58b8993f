"""The response catalogue's meaning, checked before it reaches a user (`make lint-responses`).

Fails when a response lacks a default, a personalized response does not vary with traits
(no composed variable, for_you pick or fact, or trait condition), a condition can never
match, two variants tie without an explicit order, a template uses an undefined variable
or names an unknown pick or fact, or an experiment names arms its response does not have.
Warns (`unreachable_pins`) when a variant pins a trait combination no published segment has.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from core.personas import PERSONAS
from core.ranking import FOR_YOU, FOR_YOU_PICKS
from core.traits import TRAITS, Traits
from experiments.config import ExperimentConfigError, load_experiments
from responses.catalogue import (
    PRODUCT,
    RESPONSES,
    Response,
    ResponseCatalogue,
    Variant,
)
from responses.composition import COMPOSED
from responses.cues import DOMAINS, REGION, Cues
from responses.listing import FACTS, LIST_FACTS, PICKS

# Cues that describe the shopper: a variant conditioned on one varies with traits or facts.
SHOPPER_CUES = frozenset({*TRAITS, "segment", "price_band"})
# examples: from the favourite category; first: what the traits put first in a comparison
PERSONAL_VARS = COMPOSED | {"examples", "first"}


def _where(catalogue: ResponseCatalogue, line: int) -> str:
    return f"{catalogue.path}, line {line}"


def _impossible(cue: str, allowed: frozenset) -> str | None:
    if cue not in DOMAINS:
        return f"unknown cue {cue!r} (known: {', '.join(DOMAINS)})"
    if not allowed:
        return f"{cue} lists no values"
    if cue == "region":
        bad = [v for v in allowed if not (isinstance(v, str) and REGION.match(v))]
    elif cue in ("has_deals", "has_new"):
        bad = [v for v in allowed if not isinstance(v, bool)]
    else:
        bad = [v for v in allowed if v not in DOMAINS[cue]]
    if bad:
        expected = (
            "two-letter codes like DE" if cue == "region" else ", ".join(map(str, DOMAINS[cue]))
        )
        return f"{cue} value {sorted(map(str, bad))[0]!r} never occurs (expected {expected})"
    return None


def _may_overlap(a: Variant, b: Variant) -> bool:
    """Could one turn match both (same persona, compatible conditions)?"""
    if a.personas and b.personas and not a.personas & b.personas:
        return False
    ca, cb = dict(a.when), dict(b.when)
    return all(ca[c] & cb[c] for c in ca.keys() & cb.keys())


def _variant_problems(catalogue: ResponseCatalogue, response: Response, v: Variant) -> list[str]:
    at = _where(catalogue, v.line)
    problems = []
    unknown = sorted(p for p in v.personas if p not in PERSONAS)
    if unknown:
        problems.append(f"{at}: variant {v.id!r} can never match: unknown persona {unknown[0]!r}")
    for cue, allowed in v.when:
        reason = _impossible(cue, allowed)
        if reason:
            problems.append(f"{at}: variant {v.id!r} can never match: {reason}")
    allowed_vars = RESPONSES[response.key][1]
    for arm, wording in v.arms:
        label = v.id if arm == "base" else f"{v.id}/{arm}"
        for template in wording.templates():
            for name in sorted(template.variables - allowed_vars):
                problems.append(
                    f"{at}: variant {label!r} uses undefined variable {{{name}}}; "
                    f"{response.key} offers {', '.join(sorted(allowed_vars))}"
                )
        for section in wording.sections:
            if section.pick not in PICKS and section.pick not in FOR_YOU_PICKS:
                problems.append(f"{at}: variant {label!r}: unknown pick {section.pick!r}")
            problems += [
                f"{at}: variant {label!r}: unknown fact {f!r}"
                for f in section.facts
                if f not in FACTS and f != FOR_YOU
            ]
        if response.kind == PRODUCT:
            problems += [
                f"{at}: variant {label!r}: unknown fact {f!r}"
                for f in wording.facts
                if f not in FACTS and f not in LIST_FACTS and f != FOR_YOU
            ]
    return problems


def _response_problems(catalogue: ResponseCatalogue, response: Response) -> list[str]:
    at = _where(catalogue, response.line)
    problems = []
    if not any(v.is_default for v in response.variants):
        problems.append(
            f"{at}: response {response.key!r} has no default: "
            "add a variant without personas or when"
        )
    if response.personalized and not varies_with_traits(response):
        problems.append(
            f"{at}: response {response.key!r} does not vary with traits: use a composed "
            f"variable ({', '.join(sorted(COMPOSED))}), pick: for_you or facts: [for_you], or "
            "a trait condition (or set personalized: false with a why:)"
        )
    if not response.personalized:
        personal = [
            f"{v.id!r} uses {{{name}}}"
            for v in response.variants
            for _, wording in v.arms
            for t in wording.templates()
            for name in sorted(t.variables & PERSONAL_VARS)
        ] + [
            f"{v.id!r} has personas or shopper conditions"
            for v in response.variants
            if _personal(v)
        ]
        problems += [
            f"{at}: response {response.key!r} is not personalized but variant {p}" for p in personal
        ]
    for v in response.variants:
        problems += _variant_problems(catalogue, response, v)
    for a, b in itertools.combinations(response.variants, 2):
        if a.specificity != b.specificity or not _may_overlap(a, b):
            continue
        if a.order == b.order:
            problems.append(
                f"{_where(catalogue, b.line)}: variants {a.id!r} (line {a.line}) and {b.id!r} "
                f"of {response.key!r} tie for the same turns: give one an explicit lower 'order'"
            )
            continue
        winner, loser = (a, b) if a.order < b.order else (b, a)
        if loser.when == winner.when and loser.personas <= winner.personas:
            problems.append(
                f"{_where(catalogue, loser.line)}: variant {loser.id!r} can never match: "
                f"{winner.id!r} has the same conditions and a lower order"
            )
    return problems


def _personal(v: Variant) -> bool:
    return bool(v.personas) or any(cue in SHOPPER_CUES for cue, _ in v.when)


def _composed(v: Variant) -> bool:
    for _, wording in v.arms:
        if any(t.variables & PERSONAL_VARS for t in wording.templates()):
            return True
        if FOR_YOU in wording.facts or any(
            s.pick in FOR_YOU_PICKS or FOR_YOU in s.facts for s in wording.sections
        ):
            return True
    return False


def varies_with_traits(response: Response) -> bool:
    """Composed from traits by default, or pinned per trait level / persona."""
    defaults = [v for v in response.variants if v.is_default]
    return any(_composed(v) for v in defaults) or any(_personal(v) for v in response.variants)


def unreachable_pins(catalogue: ResponseCatalogue, segments: list[Traits]) -> list[str]:
    """Variants whose trait conditions or personas no published segment satisfies (a
    warning: the next model may have such a segment)."""
    out = []
    for response in catalogue.responses.values():
        for v in response.variants:
            traits_when = [(cue, allowed) for cue, allowed in v.when if cue in TRAITS]
            if not traits_when and not v.personas:
                continue
            if not any(
                (not v.personas or t.preset in v.personas)
                and all(t.level(cue) in allowed for cue, allowed in traits_when)
                for t in segments
            ):
                out.append(
                    f"{_where(catalogue, v.line)}: variant {v.id!r} pins traits or personas "
                    "no published segment has; it answers nobody until one does"
                )
    return out


def lint(catalogue: ResponseCatalogue) -> list[str]:
    problems = []
    for response in catalogue.responses.values():
        problems += _response_problems(catalogue, response)
    return problems


def lint_experiments(catalogue: ResponseCatalogue, path: str | Path) -> list[str]:
    """Each experiment's variants must be arms of its response for every eligible persona."""
    try:
        specs = load_experiments(path)
    except ExperimentConfigError as exc:
        return [str(exc)]
    problems = []
    for spec in specs.values():
        if spec.response is None:
            continue
        if spec.response not in catalogue.responses:
            problems.append(f"{path}: experiment {spec.key!r}: unknown response {spec.response!r}")
            continue
        response = catalogue.responses[spec.response]
        for persona in spec.experiment.personas or PERSONAS:
            variant = response.select(Cues(persona=persona))
            missing = [a for a in spec.experiment.variants if a not in variant.arm_names]
            if missing:
                problems.append(
                    f"{path}: experiment {spec.key!r}: variant {variant.id!r} (the "
                    f"{persona} wording of {spec.response}) has no arm {missing[0]!r}"
                )
    return problems
