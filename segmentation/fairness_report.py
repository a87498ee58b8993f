"""The fairness audit (the dict segmentation/fairness.py writes to fairness.json) as text for
the terminal, Markdown for the model card, and HTML for the report and `segment audit -o`.

Every function reads only the dict, so a fairness.json of any model version renders the
same way; values are escaped for the format they go into.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from segmentation.disparity_stats import SIGNIFICANT

METRIC_NAMES = {
    "membership": "membership",
    "price_level": "price level (EUR)",
    "discount_pct": "discount (%)",
    "deal_share": "deal mentions",
    "conversion": "conversion",
}
RATIO_HEAD = ["ratio", "min / max", "p (min vs max)", "flag"]
GROUP_COLUMNS = ("price_level", "discount_pct", "deal_share", "conversion")
FLAG = "FLAGGED"


def value(metric: str, number: float | None) -> str:
    """A metric's value as the reports show it."""
    if number is None:
        return "–"
    if metric == "price_level":
        return f"€{number:,.2f}"
    if metric == "discount_pct":
        return f"{number:.1f}%"
    return f"{100 * number:.1f}%"


def ratio_name(entry: dict) -> str:
    name = METRIC_NAMES.get(entry["metric"], entry["metric"])
    return f"{name} {entry['segment']}" if entry.get("segment") else name


def ratio_text(entry: dict) -> str:
    """'0.667 (F 25.0% / M 37.5%)': the ratio, then the lowest and highest group."""
    metric = entry["metric"]
    return (
        f"{entry['ratio']:.3f} ({entry['min_group']} {value(metric, entry['min'])} / "
        f"{entry['max_group']} {value(metric, entry['max'])})"
    )


def p_text(entry: dict) -> str:
    """The p-value between the two groups ('–' when undefined or from an older audit)."""
    p = entry.get("p_value")
    return "–" if p is None else (f"{p:.3f}" if p >= 0.001 else f"{p:.1e}")


def significant(flags: list[dict]) -> int:
    return sum(1 for f in flags if f.get("p_value") is not None and f["p_value"] < SIGNIFICANT)


def _ratio_row(entry: dict) -> list[str]:
    return [ratio_name(entry), ratio_text(entry), p_text(entry), FLAG if entry["flagged"] else ""]


def headline(audit: dict) -> str:
    flags = audit.get("flags") or []
    verdict = (
        f"{len(flags)} disparity ratio(s) below {audit['threshold']} flagged, {significant(flags)}"
        f" of them with p under {SIGNIFICANT} between their two groups"
        if flags
        else f"no disparity ratio below {audit['threshold']}"
    )
    return f"Fairness audit of {audit['users']:,} users: {verdict}."


def influence_text(audit: dict) -> str:
    r = audit.get("region_influence") or {}
    if not r.get("region_columns"):
        return "Region: the model has no region columns."
    return (
        f"Region's influence: {r['changed_users']:,} users ({value('share', r['changed_share'])})"
        " change segment when every user's region is set to the population's mix; the "
        f"{len(r['region_columns'])} region columns (of {r['model_columns']} model columns) "
        f"carry {value('share', r['between_segment_share'])} of the between-segment spread "
        f"and {value('share', r['variance_share'])} of the variance."
    )


def _segment_rows(audit: dict) -> tuple[list[str], list[list[str]]]:
    head = ["segment", "persona", "users", "share", *(METRIC_NAMES[m] for m in GROUP_COLUMNS)]
    rows = [
        [
            s["id"],
            s["persona"],
            f"{s['users']:,}",
            value("share", s["share"]),
            *(value(m, s.get(m)) for m in GROUP_COLUMNS),
        ]
        for s in audit["segments"]
    ]
    return head, rows


def _group_rows(dimension: dict, segments: list[str]) -> tuple[list[str], list[list[str]]]:
    head = ["group", "users", *(METRIC_NAMES[m] for m in GROUP_COLUMNS), *segments]
    rows = [
        [
            g["name"],
            f"{g['users']:,}",
            *(value(m, g[m]) for m in GROUP_COLUMNS),
            *(value("membership", g["membership"].get(s)) for s in segments),
        ]
        for g in dimension["groups"]
    ]
    return head, rows


def _dimension_title(d: dict) -> str:
    return f"{d['name']} ({d['source']})"


def _notes(d: dict) -> list[str]:
    notes = [d["note"]] if d.get("note") else []
    if d.get("unknown_users"):
        notes.append(f"{d['unknown_users']:,} users without a value (unknown) are not compared")
    if d.get("skipped"):
        listed = ", ".join(f"{s['name']} ({s['users']})" for s in d["skipped"])
        notes.append(f"left out (fewer shoppers than --min-group-size): {listed}")
    return notes


# ---------- text ----------


def _text_table(head: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(str(c)) for c in column) for column in zip(head, *rows, strict=True)]
    return [
        "  ".join(
            str(c).ljust(w) if i < 2 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in [head, *rows]
    ]


def text(audit: dict) -> str:
    """The audit as a readable table for the terminal."""
    ids = [s["id"] for s in audit["segments"]]
    lines = [headline(audit), f"Conversion: {audit['conversion']['definition']}.", ""]
    lines += ["What each segment is shown (recommendations, one per category):"]
    lines += _text_table(*_segment_rows(audit))
    for d in audit["dimensions"]:
        lines += ["", f"{_dimension_title(d)}:"]
        if d["groups"]:
            lines += _text_table(*_group_rows(d, ids))
        lines += [f"  {note}" for note in _notes(d)]
        for r in d["ratios"]:
            mark = f"  {FLAG}" if r["flagged"] else ""
            lines.append(f"  ratio {ratio_name(r)}: {ratio_text(r)}, p {p_text(r)}{mark}")
    lines += ["", influence_text(audit)]
    return "\n".join(lines)


# ---------- Markdown ----------


def _md_cell(text_value: object) -> str:
    return html.escape(str(text_value), quote=False).replace("|", "\\|").replace("\n", " ")


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(_md_cell(h) for h in head) + " |"]
    out.append("|" + "|".join(" --- " for _ in head) + "|")
    out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return out


def markdown(audit: dict) -> str:
    """The audit as a Markdown section (the model card includes it); starts at level 3."""
    ids = [s["id"] for s in audit["segments"]]
    lines = [
        _md_cell(headline(audit)),
        "",
        f"Threshold {audit['threshold']} (a ratio is the lowest group's rate over the highest "
        "group's). Conversion: " + _md_cell(audit["conversion"]["definition"]) + ".",
        "",
        "### What each segment is shown",
        "",
        _md_cell(audit["exposure"]["computed"]) + ".",
        "",
        *_md_table(*_segment_rows(audit)),
    ]
    for d in audit["dimensions"]:
        lines += ["", f"### {_md_cell(_dimension_title(d))}", ""]
        if d["groups"]:
            lines += _md_table(*_group_rows(d, ids))
        lines += ["", *(f"- {_md_cell(n)}" for n in _notes(d))]
        ratios = [_ratio_row(r) for r in d["ratios"]]
        if ratios:
            lines += ["", *_md_table(RATIO_HEAD, ratios)]
    lines += ["", "### Region's influence on the clustering", "", _md_cell(influence_text(audit))]
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"


# ---------- HTML ----------

FLAG_STYLE = ' style="background:#fde2e1"'
PAGE_CSS = (
    "body{font-family:Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;"
    "padding:0 1em;color:#222}table{border-collapse:collapse;margin:.8em 0;font-size:.9em}"
    "th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left}th{background:#f4f4f4}"
    ".note{background:#f6f8fa;border-left:4px solid #8aa;padding:.5em .8em}"
)


def _html_table(head: list[str], rows: list[list[str]], flagged: list[bool] | None = None) -> str:
    esc = html.escape
    body = "".join(
        f"<tr{FLAG_STYLE if flagged and flagged[i] else ''}>"
        + "".join(f"<td>{esc(str(c))}</td>" for c in row)
        + "</tr>"
        for i, row in enumerate(rows)
    )
    heads = "".join(f"<th>{esc(h)}</th>" for h in head)
    return f"<table><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table>"


def html_section(audit: dict) -> str:
    """The report's "Fairness audit" section (segmentation/report.py adds it)."""
    esc = html.escape
    ids = [s["id"] for s in audit["segments"]]
    parts = [
        '<h2 id="fairness">Fairness audit</h2>',
        f'<p class="note">{esc(headline(audit))} Threshold {esc(str(audit["threshold"]))}: '
        "a ratio is the lowest group's rate over the highest group's; flagged rows are red."
        f" Conversion: {esc(audit['conversion']['definition'])}.</p>",
        "<h3>What each segment is shown</h3>",
        f"<p>{esc(audit['exposure']['computed'])}.</p>",
        _html_table(*_segment_rows(audit)),
    ]
    for d in audit["dimensions"]:
        parts.append(f"<h3>{esc(_dimension_title(d))}</h3>")
        if d["groups"]:
            parts.append(_html_table(*_group_rows(d, ids)))
        parts += [f'<p class="note">{esc(n)}</p>' for n in _notes(d)]
        if d["ratios"]:
            rows = [_ratio_row(r) for r in d["ratios"]]
            flags = [r["flagged"] for r in d["ratios"]]
            parts.append(_html_table(RATIO_HEAD, rows, flags))
    parts += [
        "<h3>Region's influence on the clustering</h3>",
        f"<p>{esc(influence_text(audit))}</p>",
    ]
    return "\n".join(parts)


def page(audit: dict) -> str:
    """A page of its own (`segment audit -o audit.html`)."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Fairness audit</title><style>{PAGE_CSS}</style></head>\n<body>\n"
        f"{html_section(audit)}\n</body></html>\n"
    )


def write_copy(audit: dict, output: str) -> Path:
    """-o: the audit as .json (the same dict) or an .html page."""
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".json":
        path.write_text(json.dumps(audit, indent=2))
    else:
        path.write_text(page(audit), encoding="utf-8")
    return path


def report_section(audit: dict | None) -> str:
    """The report's page: the audit, or how to get one."""
    if audit is None:
        return (
            '<h2 id="fairness">Fairness audit</h2><p class="note">Not audited yet: run '
            "<code>segment audit FEATURES MODEL_DIR</code> (retrain does it before publishing)."
            "</p>"
        )
    return html_section(audit)
