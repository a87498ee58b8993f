"""The response catalogue: wording per response, persona and contextual cue, loaded from YAML.

Which variant answers: among the variants whose personas and `when` conditions
match the turn, persona-specific ones beat generic ones, more conditions beat
fewer, and a lower `order` breaks what is left (the linter insists on it).
Each variant may carry `arms`, alternative wordings that experiments and the
bandit choose between; `base` is the variant's own wording.

The action server re-reads the file when it changes (responses/live_catalogue.py), so
wording changes need neither `rasa train` nor a restart. The product catalogue, which
these words talk about, is core/products.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from responses.composition import COMPOSED
from responses.cues import Cues
from responses.template import Template, TemplateError, parse

DEFAULT_PATH = Path(__file__).parent / "catalogue.yml"
BASE_ARM = "base"
TEXT, LISTING, PRODUCT = "text", "listing", "product"

# Every template may use these; COMPOSED are worded from the traits and the shopper's facts.
COMMON = frozenset({"shop", "persona", "greeting", "time_of_day", "region", "channel"}) | COMPOSED
PLAIN = frozenset({"shop"})  # what a response that must not be personalized may use
LISTING_VARS = COMMON | {"category", "deal_count", "top_discount", "top_saving", "new_count"}
# Every response the actions ask for: its kind and the variables its templates may use.
RESPONSES: dict[str, tuple[str, frozenset[str]]] = {
    "greet": (TEXT, COMMON),
    "ask_category": (TEXT, COMMON | {"options"}),
    "recommend": (LISTING, LISTING_VARS),
    "deals": (LISTING, LISTING_VARS),
    "new_arrivals": (LISTING, LISTING_VARS),
    "offer_deals": (TEXT, COMMON | {"category"}),
    "specs": (PRODUCT, COMMON | {"product", "category", "facts"}),
    "unknown_product": (TEXT, COMMON | {"typed", "examples"}),
    "ask_product": (TEXT, COMMON | {"examples"}),
    "feedback_thanks": (TEXT, COMMON),
    "feedback_ask_reason": (TEXT, COMMON),
    "feedback_reason_thanks": (TEXT, COMMON),
    "feedback_nothing_to_rate": (TEXT, COMMON),
    "thanks": (TEXT, COMMON),
    "goodbye": (TEXT, COMMON),
    "help": (TEXT, COMMON),  # "I didn't get that"
    "out_of_scope": (TEXT, COMMON),
    "budget": (LISTING, LISTING_VARS | {"budget", "stated"}),
    "budget_nearest": (LISTING, LISTING_VARS | {"budget", "stated"}),
    "budget_cheapest": (LISTING, LISTING_VARS),
    "budget_invalid": (TEXT, PLAIN | {"typed"}),
    "budget_currency": (TEXT, PLAIN | {"currency"}),
    "budget_ask": (TEXT, COMMON | {"category"}),
    "compare": (TEXT, COMMON | {"title", "rows", "first", "dropped"}),
    "compare_which": (TEXT, COMMON | {"examples"}),
    "compare_need_more": (TEXT, COMMON | {"product", "examples"}),
    "stock": (TEXT, PLAIN | {"product", "count"}),
    "stock_low": (TEXT, PLAIN | {"product", "count"}),
    "stock_out": (LISTING, LISTING_VARS | {"product"}),
    "stock_category": (LISTING, LISTING_VARS),
    "notify_saved": (TEXT, PLAIN | {"product"}),
    "notify_in_stock": (TEXT, PLAIN | {"product"}),
    "notify_needs_consent": (TEXT, PLAIN | {"product"}),
    "notify_full": (TEXT, PLAIN | {"product", "limit"}),
    "cart_added": (TEXT, PLAIN | {"product", "quantity", "count", "total"}),
    "cart_refused": (TEXT, PLAIN | {"product", "reason"}),
    "cart_show": (TEXT, PLAIN | {"lines", "count", "total"}),
    "cart_empty": (TEXT, COMMON),
    "checkout_placed": (TEXT, PLAIN | {"order_id", "count", "total", "eta"}),
    "checkout_again": (TEXT, PLAIN | {"order_id", "total"}),
    "checkout_empty": (TEXT, PLAIN),
    "sign_in": (TEXT, PLAIN | {"what"}),
    "order_status": (TEXT, PLAIN | {"order_id", "status", "eta", "items", "placed"}),
    "order_none": (TEXT, PLAIN),
    "order_unknown": (TEXT, PLAIN | {"typed"}),
    "shop_unavailable": (TEXT, PLAIN),
    "policy_delivery_perk": (TEXT, PLAIN | {"orders"}),
    "policy_returns_perk": (TEXT, PLAIN | {"orders"}),
    "policy_delivery_progress": (TEXT, PLAIN | {"left"}),
    "policy_unsure": (TEXT, PLAIN | {"others"}),
    "consent_question": (TEXT, PLAIN),
    "consent_granted": (TEXT, PLAIN),
    "consent_denied": (TEXT, PLAIN),
    "privacy_unavailable": (TEXT, PLAIN),
    "forgotten": (TEXT, PLAIN | {"summary"}),
    # the post-conversation survey (actions/survey.py)
    "survey_question": (TEXT, PLAIN),
    "survey_ask_comment": (TEXT, PLAIN),
    "survey_thanks": (TEXT, PLAIN),
    "survey_skipped": (TEXT, PLAIN),
    "survey_bad_score": (TEXT, PLAIN),
    "survey_not_open": (TEXT, PLAIN),
}
WORDING_FIELDS = ("text", "intro", "closing", "sections", "facts", "layout")


class CatalogueError(ValueError):
    """The catalogue file is unusable; the message names the file and line."""


class _Map(dict):
    line = 0


class _Loader(yaml.SafeLoader):
    pass


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    out = _Map(loader.construct_mapping(node, deep=True))
    out.line = node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)


@dataclass(frozen=True)
class Section:
    title: Template
    pick: str
    facts: tuple[str, ...]
    limit: int = 3
    empty: Template | None = None


@dataclass(frozen=True)
class Wording:
    text: Template | None = None
    intro: Template | None = None
    sections: tuple[Section, ...] = ()
    closing: Template | None = None
    facts: tuple[str, ...] = ()
    layout: str = "inline"  # product kind: facts on one line, or one bullet per fact

    def templates(self) -> list[Template]:
        out = [t for t in (self.text, self.intro, self.closing) if t is not None]
        for s in self.sections:
            out += [t for t in (s.title, s.empty) if t is not None]
        return out


@dataclass(frozen=True)
class Variant:
    id: str
    personas: frozenset[str]
    when: tuple[tuple[str, frozenset], ...]  # (cue, allowed values)
    arms: tuple[tuple[str, Wording], ...]  # base first
    order: float = math.inf
    line: int = 0

    @property
    def specificity(self) -> tuple[int, int]:
        return (1 if self.personas else 0, len(self.when))

    @property
    def is_default(self) -> bool:
        return not self.personas and not self.when

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.arms)

    def wording(self, arm: str) -> Wording:
        return dict(self.arms).get(arm, self.arms[0][1])

    def matches(self, cues: Cues) -> bool:
        if self.personas and cues.persona not in self.personas:
            return False
        for cue, allowed in self.when:
            value = cues.value(cue)
            if isinstance(value, frozenset):
                if not value & allowed:
                    return False
            elif value not in allowed:
                return False
        return True


@dataclass(frozen=True)
class Response:
    key: str
    kind: str
    personalized: bool
    variants: tuple[Variant, ...]
    line: int = 0
    why: str = ""  # why a response is not personalized (required then)

    def select(self, cues: Cues) -> Variant:
        """The most specific matching variant; the default one when nothing else matches."""
        best, rank = None, None
        for index, variant in enumerate(self.variants):
            if variant.matches(cues):
                key = (-variant.specificity[0], -variant.specificity[1], variant.order, index)
                if rank is None or key < rank:
                    best, rank = variant, key
        return best or self.variants[0]


@dataclass(frozen=True)
class ResponseCatalogue:
    path: str
    responses: Mapping[str, Response]

    def get(self, key: str) -> Response:
        try:
            return self.responses[key]
        except KeyError:
            raise CatalogueError(f"{self.path}: no response {key!r}; add it") from None


def _fail(path: str, line: int | None, message: str) -> CatalogueError:
    return CatalogueError(f"{path}, line {line}: {message}" if line else f"{path}: {message}")


def _template(path: str, line: int, where: str, value: object) -> Template:
    if not isinstance(value, str) or not value.strip():
        raise _fail(path, line, f"{where} must be non-empty text")
    try:
        return parse(value)
    except TemplateError as exc:
        raise _fail(path, line, f"{where}: {exc}") from None


def _optional(path, line, where, value) -> Template | None:
    return None if value is None else _template(path, line, where, value)


def _names(path: str, line: int, where: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(path, line, f"{where} must be a list of names")
    return tuple(value)


def _sections(path: str, line: int, where: str, raw: object) -> tuple[Section, ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(path, line, f"{where}: 'sections' must be a non-empty list")
    out = []
    for item in raw:
        at = getattr(item, "line", line)
        if not isinstance(item, dict):
            raise _fail(path, at, f"{where}: each section must be a mapping")
        limit = item.get("limit", 3)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise _fail(path, at, f"{where}: 'limit' must be a whole number of at least 1")
        if not isinstance(item.get("pick"), str):
            raise _fail(path, at, f"{where}: each section needs 'pick' (see responses/listing.py)")
        out.append(
            Section(
                _template(path, at, f"{where}: section 'title'", item.get("title")),
                item["pick"],
                _names(path, at, f"{where}: 'facts'", item.get("facts", [])),
                limit,
                _optional(path, at, f"{where}: section 'empty'", item.get("empty")),
            )
        )
    return tuple(out)


def _wording(path: str, line: int, where: str, raw: Mapping, kind: str) -> Wording:
    unknown = [k for k in raw if k not in WORDING_FIELDS]
    if unknown:
        raise _fail(path, line, f"{where}: unknown fields {', '.join(map(str, unknown))}")
    if kind == LISTING:
        return Wording(
            intro=_optional(path, line, f"{where}: 'intro'", raw.get("intro")),
            sections=_sections(path, line, where, raw.get("sections")),
            closing=_optional(path, line, f"{where}: 'closing'", raw.get("closing")),
        )
    layout = raw.get("layout", "inline")
    if layout not in ("inline", "list"):
        raise _fail(path, line, f"{where}: 'layout' must be inline or list")
    return Wording(
        text=_template(path, line, f"{where}: 'text'", raw.get("text")),
        facts=_names(path, line, f"{where}: 'facts'", raw.get("facts", [])),
        layout=layout,
    )


def _variant(path: str, raw: object, response: str, kind: str, line: int) -> Variant:
    line = getattr(raw, "line", line)
    if not isinstance(raw, dict):
        raise _fail(path, line, f"response {response!r}: each variant must be a mapping")
    vid = raw.get("id")
    if not isinstance(vid, str) or not vid.strip():
        raise _fail(path, line, f"response {response!r}: every variant needs an 'id'")
    where = f"variant {vid!r}"
    when = raw.get("when") or {}
    if not isinstance(when, dict):
        raise _fail(path, line, f"{where}: 'when' must map cues to values")
    conditions = []
    for cue, allowed in when.items():
        values = allowed if isinstance(allowed, list) else [allowed]
        conditions.append((str(cue), frozenset(values)))
    order = raw.get("order", math.inf)
    if not isinstance(order, int | float) or isinstance(order, bool):
        raise _fail(path, line, f"{where}: 'order' must be a number")
    base = {k: v for k, v in raw.items() if k in WORDING_FIELDS}
    arms = [(BASE_ARM, _wording(path, line, where, base, kind))]
    extra = raw.get("arms") or {}
    if not isinstance(extra, dict):
        raise _fail(path, line, f"{where}: 'arms' must map arm names to wording")
    for name, override in extra.items():
        at = getattr(override, "line", line)
        if name == BASE_ARM or not isinstance(override, dict):
            raise _fail(path, at, f"{where}: arm {name!r} must be a mapping and not named base")
        arms.append((str(name), _wording(path, at, f"{where} arm {name!r}", base | override, kind)))
    known = {"id", "personas", "when", "order", "arms", *WORDING_FIELDS}
    unknown = [k for k in raw if k not in known]
    if unknown:
        raise _fail(path, line, f"{where}: unknown fields {', '.join(map(str, unknown))}")
    return Variant(
        vid,
        frozenset(_names(path, line, f"{where}: 'personas'", raw.get("personas") or [])),
        tuple(sorted(conditions, key=lambda c: c[0])),
        tuple(arms),
        order,
        line,
    )


def load_catalogue(path: str | Path = DEFAULT_PATH) -> ResponseCatalogue:
    """Parse and check the structure; responses/checks.py checks the meaning."""
    source = str(path)
    try:
        raw = yaml.load(Path(path).read_text(encoding="utf-8"), Loader=_Loader)  # a SafeLoader
    except OSError as exc:
        raise _fail(source, None, f"cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "cannot parse"
        raise _fail(source, mark.line + 1 if mark else None, f"invalid YAML ({problem})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("responses"), dict):
        raise _fail(source, None, "expected a top-level 'responses:' mapping")
    responses = {}
    for key, body in raw["responses"].items():
        line = getattr(body, "line", None)
        if key not in RESPONSES:
            raise _fail(
                source, line, f"unknown response {key!r}; known: {', '.join(sorted(RESPONSES))}"
            )
        if not isinstance(body, dict) or not isinstance(body.get("variants"), list):
            raise _fail(source, line, f"response {key!r} needs a 'variants' list")
        kind = RESPONSES[key][0]
        variants = tuple(_variant(source, v, key, kind, line) for v in body["variants"])
        if not variants:
            raise _fail(source, line, f"response {key!r} has no variants")
        ids = [v.id for v in variants]
        duplicate = next((i for i in ids if ids.count(i) > 1), None)
        if duplicate:
            raise _fail(source, line, f"response {key!r}: duplicate variant id {duplicate!r}")
        default_first = sorted(variants, key=lambda v: not v.is_default)
        personalized = body.get("personalized", True)
        why = body.get("why") or ""
        if not isinstance(personalized, bool) or not isinstance(why, str):
            raise _fail(
                source, line, f"response {key!r}: 'personalized' is true or false, 'why' text"
            )
        if not personalized and not why.strip():
            raise _fail(
                source, line, f"response {key!r} is not personalized: say why in a 'why:' line"
            )
        responses[key] = Response(key, kind, personalized, tuple(default_first), line or 0, why)
    missing = [k for k in RESPONSES if k not in responses]
    if missing:
        raise _fail(source, None, f"missing responses {', '.join(missing)}; add a variants list")
    return ResponseCatalogue(source, responses)
