"""The model card as a section of the HTML report: the card's Markdown (segmentation/card.py)
turned into HTML, for the subset the card uses (headings, lists, tables, code blocks,
paragraphs, `code`). Every piece of text is escaped; the card's own title is dropped, the
report has one."""

from __future__ import annotations

import re

from segmentation.report_html import esc

CODE = re.compile(r"`([^`]*)`")


def _inline(text: str) -> str:
    parts = CODE.split(text)  # odd items were inside backticks
    return "".join(f"<code>{esc(p)}</code>" if i % 2 else esc(p) for i, p in enumerate(parts))


def _cells(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [_inline(c.strip().replace("\\|", "|")) for c in cells]


def _table(lines: list[str]) -> str:
    head = "".join(f"<th>{c}</th>" for c in _cells(lines[0]))
    rows = "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in _cells(line)) + "</tr>" for line in lines[2:]
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def _blocks(markdown: str) -> list[list[str]]:
    """Runs of lines: a code fence, a table, a list, or a paragraph."""
    blocks: list[list[str]] = []
    fence: list[str] | None = None
    for line in markdown.splitlines():
        if fence is not None:
            fence.append(line)
            if line.startswith("```"):
                blocks.append(fence)
                fence = None
            continue
        if line.startswith("```"):
            fence = [line]
        elif not line.strip():
            blocks.append([])
        elif blocks and blocks[-1] and _kind(blocks[-1][0]) == _kind(line) != "heading":
            blocks[-1].append(line)
        else:
            blocks.append([line])
    if fence is not None:
        blocks.append(fence)
    return [b for b in blocks if b]


def _kind(line: str) -> str:
    if line.startswith("#"):
        return "heading"
    if line.startswith("|"):
        return "table"
    if line.startswith("- "):
        return "list"
    return "text"


def card_html(markdown: str | None) -> str:
    """The report's "Model card" section; empty without a card."""
    if not markdown:
        return ""
    out = ['<h2 id="card">Model card</h2>']
    for block in _blocks(markdown):
        first = block[0]
        if first.startswith("```"):
            out.append(f"<pre>{esc(chr(10).join(block[1:-1]))}</pre>")
        elif _kind(first) == "heading":
            level = len(first) - len(first.lstrip("#"))
            if level > 1:  # the card's title is the report's header
                out.append(f"<h{level + 1}>{_inline(first.lstrip('#').strip())}</h{level + 1}>")
        elif _kind(first) == "table":
            out.append(_table(block))
        elif _kind(first) == "list":
            items = "".join(f"<li>{_inline(line[2:])}</li>" for line in block)
            out.append(f"<ul>{items}</ul>")
        else:
            out.append(f"<p>{_inline(' '.join(block))}</p>")
    return "\n".join(out)
