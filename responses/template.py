"""Sandboxed templates: `{name}` substitution and `**bold**`, nothing else.

Catalogue wording is edited by people, and the values put into it can come
from users (a product name they typed). So a template is parsed once into
literal text and variable slots; values are inserted in a single pass, escaped
for the channel, and never parsed again: a value holding `{secret}` or `**`
stays literal text. There are no expressions, attribute lookups or loops to
abuse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_TOKEN = re.compile(r"\{\{|\}\}|\*\*|\{([a-z_][a-z0-9_]*)\}|[{}]")
BOLD = ("**",)  # marker part: toggles bold
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class TemplateError(ValueError):
    """A template cannot be parsed; the message says where."""


@dataclass(frozen=True)
class Format:
    """How one channel shows text: bold markers and the escaping of inserted values."""

    name: str
    bold: str  # "*" for Slack, "" where bold cannot be shown

    def escape(self, value: str) -> str:
        value = _CONTROL.sub("", value)
        if self.name == "slack":  # mrkdwn control characters: <!channel>, <url|label>, &
            value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            value = value.replace("*", "\u2217").replace("_", "\uff3f").replace("~", "\u223c")
            value = value.replace("`", "\u02cb")
        return value

    def literal(self, text: str) -> str:
        if self.name == "slack":
            text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return text


PLAIN = Format("plain", "")  # web chat and REST clients show text as is
SLACK = Format("slack", "*")


def format_for(channel: str | None) -> Format:
    return SLACK if channel == "slack" else PLAIN


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[str | tuple[str], ...]  # literal text, (variable name,) or BOLD

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(p[0] for p in self.parts if isinstance(p, tuple) and p is not BOLD)

    def render(self, values: dict[str, object], fmt: Format = PLAIN) -> str:
        """Fill the slots; a missing value renders empty (the linter catches unknown names)."""
        out = []
        for part in self.parts:
            if part is BOLD:
                out.append(fmt.bold)
            elif isinstance(part, tuple):
                value = values.get(part[0])
                out.append(fmt.escape("" if value is None else str(value)))
            else:
                out.append(fmt.literal(part))
        return "".join(out)


@lru_cache(maxsize=4096)
def parse(source: str) -> Template:
    if not isinstance(source, str):
        raise TemplateError(f"expected text, got {type(source).__name__}")
    parts: list[str | tuple[str]] = []
    literal, pos = [], 0
    for match in _TOKEN.finditer(source):
        literal.append(source[pos : match.start()])
        token = match.group(0)
        if token in ("{{", "}}"):
            literal.append(token[0])
        elif token == "**" or match.group(1):
            parts.append("".join(literal))
            literal = []
            parts.append(BOLD if token == "**" else (match.group(1),))
        else:
            raise TemplateError(
                f"stray {token!r} at character {match.start() + 1} of {source[:40]!r}: "
                "write {{ or }} for a literal brace, {name} for a variable"
            )
        pos = match.end()
    literal.append(source[pos:])
    parts.append("".join(literal))
    if sum(p is BOLD for p in parts) % 2:
        raise TemplateError(f"unbalanced ** in {source[:40]!r}: bold text needs ** on both sides")
    return Template(source, tuple(p for p in parts if p != ""))
