"""A user's profile as the actions see it, parsed defensively from raw store data.

Profiles are written by people and by batch jobs (segment publishing, CRM
imports), so anything read back is validated before it can shape an answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.categories import CATEGORIES
from core.personas import DEFAULT, is_persona

# Fields a profile hash may carry; anything else is ignored (forward compatible).
KNOWN_FIELDS = ("segment", "favourite_category", "recent_category", "updated_at")


class MalformedProfile(ValueError):
    """Stored profile data cannot be trusted; the caller falls back to the default persona."""


@dataclass(frozen=True)
class Profile:
    segment: str = DEFAULT
    favourite_category: str | None = None
    recent_category: str | None = None
    updated_at: float | None = None


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


def parse_profile(raw: Mapping[object, object], segment: str | None = None) -> Profile:
    """Build a Profile from a Redis hash (bytes or str keys/values).

    Raises MalformedProfile naming the offending field, so the warning in the
    log tells an operator exactly what to fix. `segment`, when given (the
    published segment's persona), takes precedence over the hash's own field.
    """
    fields: dict[str, str] = {}
    for key, value in raw.items():
        name = _text(key, "<key>")
        if name in KNOWN_FIELDS:
            fields[name] = _text(value, name)

    segment = segment or fields.get("segment", "")
    if not segment:
        raise MalformedProfile("field 'segment' is missing or empty")
    if not is_persona(segment):
        raise MalformedProfile(f"field 'segment' is '{segment[:40]}', not a known persona")

    updated_at: float | None = None
    if fields.get("updated_at"):
        try:
            updated_at = float(fields["updated_at"])
        except ValueError as exc:
            raise MalformedProfile("field 'updated_at' is not a unix timestamp") from exc

    return Profile(
        segment=segment,
        favourite_category=_category(fields.get("favourite_category"), "favourite_category"),
        recent_category=_category(fields.get("recent_category"), "recent_category"),
        updated_at=updated_at,
    )
