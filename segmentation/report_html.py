"""The report's HTML building blocks: escaping, number formats, figures, notes, tables."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from segmentation.report_data import number
from segmentation.report_figures import png_uri

MISSING = "–"


def esc(value: Any) -> str:
    """Every input string goes through here: ids and personas may contain markup."""
    return html.escape(str(value), quote=True)


def fmt(value: Any) -> str:
    value_number = number(value)
    if value_number is None:
        return MISSING
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if abs(value_number) >= 1000:
        return f"{value_number:,.0f}"
    return f"{value_number:.1f}" if abs(value_number) >= 10 else f"{value_number:.3f}"


def pct(share: Any) -> str:
    value = number(share)
    return MISSING if value is None else f"{100 * value:.1f}%"


def figure(fig: Figure, alt: str, caption_html: str) -> str:
    return (
        f'<figure><img src="{png_uri(fig)}" alt="{esc(alt)}">'
        f"<figcaption>{caption_html}</figcaption></figure>"
    )


def note(text_html: str) -> str:
    return f'<p class="note">{text_html}</p>'


def table(headers: Sequence[str], rows: list[str]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def swatch(colour: str) -> str:
    return f'<span class="sw" style="background:{colour}"></span>'
