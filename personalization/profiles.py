"""A user's profile as the actions see it, parsed defensively from raw store data.

Profiles are written by people and by batch jobs (CRM imports, the demo seeding), so
anything read back is validated before it can shape an answer. The segment comes from
the published model; the profile's `segment` field is an explicit override (a persona
preset name: staff accounts, tests, support), documented in README ("Segments").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from core.categories import CATEGORIES
from core.personas import is_persona
from core.shopper import NO_FACTS, ShopperFacts, price_band

# Fields a profile hash may carry; anything else is ignored (forward compatible).
KNOWN_FIELDS = (
    "segment",
    "favourite_category",
    "recent_category",
    "updated_at",
    "order_count",
    "order_total",
    "last_order_at",
    "last_order_category",
)


class MalformedProfile(ValueError):
    """Stored profile data cannot be trusted; the caller falls back to the default persona."""


@dataclass(frozen=True)
class Profile:
    segment: str | None = None  # the override, a persona preset name
    favourite_category: str | None = None
    recent_category: str | None = None
    facts: ShopperFacts = NO_FACTS


DEFAULT_PROFILE = Profile()


def _text(value: object, field: str) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedProfile(f"field '{field}' is not valid UTF-8") from exc
    if not isinstance(value, str):
        raise MalformedProfile(f"field '{field}' has type {type(value).__name__}, expected text")
    return value.strip()


def _category(value: str | None, field: str) -> str | None:
    if not value:
        return None
    if value not in CATEGORIES:
        raise MalformedProfile(
            f"field '{field}' is '{value[:40]}', not one of {', '.join(CATEGORIES)}"
        )
    return value


def _number(fields: Mapping[str, str], field: str, what: str) -> float | None:
    if not fields.get(field):
        return None
    try:
        value = float(fields[field])
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise MalformedProfile(f"field '{field}' is not {what}")
    return value


def parse_profile(raw: Mapping[object, object]) -> Profile:
    """Build a Profile from a Redis hash (bytes or str keys/values).

    Raises MalformedProfile naming the offending field, so the warning in the
    log tells an operator exactly what to fix.
    """
    fields: dict[str, str] = {}
    for key, value in raw.items():
        name = _text(key, "<key>")
        if name in KNOWN_FIELDS:
            fields[name] = _text(value, name)

    segment = fields.get("segment") or None
    if segment is not None and not is_persona(segment):
        raise MalformedProfile(f"field 'segment' is '{segment[:40]}', not a known persona")
    favourite = _category(fields.get("favourite_category"), "favourite_category")
    _number(fields, "updated_at", "a unix timestamp")  # written by imports: checked, not used
    count = _number(fields, "order_count", "a number of orders")
    total = _number(fields, "order_total", "an amount in euros")
    facts = ShopperFacts(
        price_band=price_band(count, total),
        favourite_category=favourite,
        last_order_category=_category(fields.get("last_order_category"), "last_order_category"),
        last_order_at=_number(fields, "last_order_at", "a unix timestamp"),
        orders=int(count or 0),
        spend=total or 0.0,
    )
    return Profile(
        segment=segment,
        favourite_category=favourite,
        recent_category=_category(fields.get("recent_category"), "recent_category"),
        facts=facts,
    )
