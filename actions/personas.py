"""The personas the assistant can speak to, and how a stored segment maps to one."""

from __future__ import annotations

FREQUENT_BUYER = "frequent_buyer"
BARGAIN_HUNTER = "bargain_hunter"
TECH_ENTHUSIAST = "tech_enthusiast"
CASUAL_BROWSER = "casual_browser"
NEW_VISITOR = "new_visitor"
DEFAULT = "default"

PERSONAS: tuple[str, ...] = (
    FREQUENT_BUYER,
    BARGAIN_HUNTER,
    TECH_ENTHUSIAST,
    CASUAL_BROWSER,
    NEW_VISITOR,
    DEFAULT,
)


def is_persona(value: object) -> bool:
    return isinstance(value, str) and value in PERSONAS


def persona_or_default(value: object) -> str:
    return value if is_persona(value) else DEFAULT
