"""One self-contained HTML report per segmentation model, for an analyst to review in a browser.

Everything is inline (CSS, base64 PNGs, no JavaScript, no external URLs), so the file can be
archived or mailed next to the model version and still opens offline years later. The
numbers come from segmentation/report_data.py, the charts from report_figures.py; this
module lays them out, and every input string is escaped on the way in.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from segmentation.fairness_report import report_section
from segmentation.report_card import card_html
from segmentation.report_data import (
    MAX_TSNE_ROWS,
    MIN_TSNE_ROWS,
    check_shapes,
    number,
    pca_map,
    ratio,
    segment_counts,
    segment_means,
    segment_order,
    segments_by_id,
    stratified_sample,
    tsne_map,
    tsne_perplexity,
    widest_features,
)
from segmentation.report_figures import heatmap, scatter, segment_colours, sizes_chart
from segmentation.report_html import MISSING, esc, figure, fmt, note, pct, swatch, table
from segmentation.report_selection import selection_html

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ddd; margin-top: 2em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.chosen td { background: #fff3c4; font-weight: 600; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; margin-top: 0.3em; }
.note { background: #f6f8fa; border-left: 4px solid #8aa; padding: 0.5em 0.8em; }
.sw { display: inline-block; width: 0.9em; height: 0.9em; border-radius: 2px;
      vertical-align: middle; margin-right: 0.4em; }
nav a { margin-right: 1em; } dl.meta { display: grid; grid-template-columns: max-content auto;
      gap: 0.2em 1em; } dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; }
"""


def build_report(
    X: np.ndarray,
    feature_names: Sequence[str],
    labels: np.ndarray,
    model_meta: dict[str, Any],
    selection: dict[str, Any],
    out_path: str | Path,
    *,
    sample_size: int = 2000,
    random_state: int = 0,
) -> Path:
    """Write the analyst's HTML report for one model version and return its path."""
    X = np.asarray(X, dtype=float)
    labels = np.asarray(labels).astype(str)
    names = [str(name) for name in feature_names]
    check_shapes(X, names, labels)
    meta_segments = list(model_meta.get("segments") or [])
    order = segment_order(labels, meta_segments)
    colours = segment_colours(order)
    sections = [
        _header_html(model_meta, len(labels), len(order)),
        selection_html(selection),
        _sizes_html(labels, order, colours, meta_segments),
        _personas_html(order, colours, meta_segments, labels),
        _heatmap_html(X, names, labels, order),
        _maps_html(X, labels, order, colours, sample_size, random_state),
        _merges_html(model_meta.get("merges") or []),
        _movement_html(model_meta.get("moved")),
        _hierarchical_html(model_meta.get("hierarchical_note")),
        card_html(model_meta.get("card")),
        report_section(model_meta.get("fairness")),
    ]
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_page(model_meta, sections), encoding="utf-8")
    return path


# ---------- header ----------


def _header_html(meta: dict[str, Any], n_rows: int, n_segments: int) -> str:
    params = meta.get("params") or {}
    params_text = (
        ", ".join(f"{k}={v}" for k, v in params.items()) if isinstance(params, dict) else params
    )
    n_users = meta.get("n_users", n_rows)
    items = [
        ("Version", esc(meta.get("version", MISSING))),
        ("Algorithm", esc(meta.get("algorithm", MISSING))),
        ("Parameters", esc(params_text or MISSING)),
        ("Created", esc(meta.get("created_at", MISSING))),
        ("Users", esc(fmt(n_users) if number(n_users) is not None else n_users)),
        ("Segments", str(n_segments)),
    ]
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
    nav = "".join(
        f'<a href="#{anchor}">{title}</a>'
        for anchor, title in (
            ("selection", "Model selection"),
            ("sizes", "Sizes"),
            ("personas", "Personas"),
            ("profiles", "Profiles"),
            ("maps", "Maps"),
            ("changes", "Changes"),
            ("card", "Model card"),
            ("fairness", "Fairness"),
        )
    )
    return (
        f"<h1>Segmentation report: {esc(meta.get('version', MISSING))}</h1>"
        f'<nav>{nav}</nav><dl class="meta">{body}</dl>'
    )


# ---------- sizes and personas ----------


def _sizes_html(
    labels: np.ndarray,
    order: list[str],
    colours: dict[str, str],
    meta_segments: list[dict[str, Any]],
) -> str:
    head = '<h2 id="sizes">Segment sizes</h2>'
    if not order or len(labels) == 0:
        return head + note("No users to count.")
    personas = segments_by_id(meta_segments)
    ticks = [f"{sid} · {personas[sid].get('persona')}" if sid in personas else sid for sid in order]
    total = len(labels)
    fig = sizes_chart(order, segment_counts(labels, order), ticks, colours, total)
    caption = f"Users per segment (of {total:,} users in this run); labels show size and share."
    return head + figure(fig, "segment sizes", caption)


def _top_features_html(top: Any) -> str:
    items = []
    for entry in top or []:
        if isinstance(entry, list | tuple) and len(entry) >= 2:
            z = number(entry[1])
            items.append(f"{esc(entry[0])} {z:+.2f}" if z is not None else esc(entry[0]))
        else:
            items.append(esc(entry))
    return ", ".join(items) or MISSING


def _personas_html(
    order: list[str],
    colours: dict[str, str],
    meta_segments: list[dict[str, Any]],
    labels: np.ndarray,
) -> str:
    personas = segments_by_id(meta_segments)
    total = len(labels)
    rows = []
    for sid in order:
        segment = personas.get(sid, {})
        count = int(np.sum(labels == sid))
        size = segment.get("size", count)
        share = segment.get("share", count / total if total else None)
        rows.append(
            f"<tr><td>{swatch(colours[sid])}{esc(sid)}</td>"
            f"<td>{esc(segment.get('persona', MISSING))}</td>"
            f'<td class="num">{esc(fmt(size))}</td><td class="num">{esc(pct(share))}</td>'
            f"<td>{_top_features_html(segment.get('top_features'))}</td></tr>"
        )
    key = "<p>Top features are segment means in standard deviations (z) from the overall mean.</p>"
    listing = table(["segment", "persona", "size", "share", "top features (z)"], rows)
    return f'<h2 id="personas">Persona labels</h2>{key}{listing}'


# ---------- feature profiles ----------


def _heatmap_html(X: np.ndarray, names: list[str], labels: np.ndarray, order: list[str]) -> str:
    head = '<h2 id="profiles">Segment feature profiles</h2>'
    if len(labels) == 0 or X.shape[1] == 0 or not order:
        return head + note("No users or features: heat map skipped.")
    means = segment_means(X, labels, order)
    keep = widest_features(means)
    caption = (
        "Mean of each preprocessed (scaled) feature per segment; red above, blue below the "
        "overall centre, white at 0."
    )
    if len(keep) < X.shape[1]:
        caption += (
            f" Showing the {len(keep)} of {X.shape[1]} features with the largest spread of "
            "segment means (max − min)."
        )
    fig = heatmap(means[:, keep], [names[i] for i in keep], order)
    return head + figure(fig, "segment feature heat map", esc(caption))


# ---------- 2-D maps ----------


def _sample_text(n_sample: int, n_total: int) -> str:
    if n_sample >= n_total:
        return f"all {n_total:,} users"
    return f"a stratified random sample of {n_sample:,} of {n_total:,} users"


def _maps_html(
    X: np.ndarray,
    labels: np.ndarray,
    order: list[str],
    colours: dict[str, str],
    sample_size: int,
    seed: int,
) -> str:
    def draw(coords: np.ndarray, rows: np.ndarray, axis_labels: tuple[str, str]) -> Figure:
        return scatter(coords, labels[rows], order, colours, axis_labels)

    pca_rows = stratified_sample(labels, sample_size, seed)
    tsne_rows = stratified_sample(labels, min(sample_size, MAX_TSNE_ROWS), seed)
    pca = _pca_html(X, pca_rows, len(labels), draw, seed)
    tsne = _tsne_html(X, tsne_rows, len(labels), draw, seed)
    return f'<h2 id="maps">2-D maps</h2>{pca}\n{tsne}'


def _pca_html(X: np.ndarray, rows: np.ndarray, n_users: int, draw, seed: int) -> str:
    head = "<h3>PCA</h3>"
    if len(rows) < 2 or X.shape[1] == 0:
        return head + note(f"PCA skipped: {len(rows)} users, {X.shape[1]} features.")
    coords, axis_labels = pca_map(X[rows], seed)
    caption = (
        f"First two principal components of the preprocessed features, on "
        f"{_sample_text(len(rows), n_users)} (seed {seed})."
    )
    return head + figure(draw(coords, rows, axis_labels), "PCA scatter", esc(caption))


def _tsne_html(X: np.ndarray, rows: np.ndarray, n_users: int, draw, seed: int) -> str:
    head = "<h3>t-SNE</h3>"
    if len(rows) < MIN_TSNE_ROWS:
        text = f"t-SNE skipped: only {len(rows)} users (needs at least {MIN_TSNE_ROWS})."
        return head + note(esc(text))
    if X.shape[1] < 2:
        return head + note("t-SNE skipped: needs at least 2 features.")
    coords = tsne_map(X[rows], seed)
    caption = (
        f"t-SNE of {_sample_text(len(rows), n_users)} (sample size {len(rows):,}, "
        f"perplexity {tsne_perplexity(len(rows))}, seed {seed}). Distances between clusters "
        "are not meaningful."
    )
    return head + figure(draw(coords, rows, ("t-SNE 1", "t-SNE 2")), "t-SNE scatter", esc(caption))


# ---------- changes ----------


def _merges_html(merges: list[dict[str, Any]]) -> str:
    head = '<h2 id="changes">Merged segments</h2>'
    if not merges:
        return head + "<p>No segments merged.</p>"
    items = "".join(
        f"<li>{esc(m.get('merged', MISSING))} ({esc(pct(m.get('share')))} of users) "
        f"merged into {esc(m.get('into', MISSING))}</li>"
        for m in merges
    )
    return f"{head}<p>Segments below the minimum size were merged:</p><ul>{items}</ul>"


def _movement_html(moved: dict[str, Any] | None) -> str:
    head = "<h2>Movement since the previous version</h2>"
    if not moved:
        return head + "<p>First version: nothing to compare.</p>"
    compared, moved_users = number(moved.get("compared_users")), number(moved.get("moved_users"))
    share = moved_users / compared if compared and moved_users is not None else None
    summary = (
        f"Compared with version {esc(moved.get('previous_version', MISSING))}: "
        f"<strong>{esc(fmt(moved.get('moved_users')))}</strong> of "
        f"{esc(fmt(moved.get('compared_users')))} users present in both moved segment "
        f"(<strong>{esc(pct(share))}</strong>)."
    )
    transitions = sorted(
        moved.get("transitions") or [], key=lambda t: -(number(t.get("users")) or 0)
    )
    if not transitions:
        return f"{head}<p>{summary}</p><p>No transitions recorded.</p>"
    rows = [
        f"<tr><td>{esc(t.get('from', MISSING))}</td><td>{esc(t.get('to', MISSING))}</td>"
        f'<td class="num">{esc(fmt(t.get("users")))}</td>'
        f'<td class="num">{esc(pct(ratio(t.get("users"), compared)))}</td></tr>'
        for t in transitions
    ]
    listing = table(["from", "to", "users", "share of compared"], rows)
    return f"{head}<p>{summary}</p>{listing}"


def _hierarchical_html(text: Any) -> str:
    if not text:
        return ""
    return "<h2>Hierarchical clustering</h2>" + note(esc(text))


def _page(meta: dict[str, Any], sections: list[str]) -> str:
    title = esc(f"Segmentation report {meta.get('version', '')}".strip())
    body = "\n".join(s for s in sections if s)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
