"""One self-contained HTML report per segmentation model, for an analyst to review in a browser.

Everything is inline (CSS, base64 PNGs, no JavaScript, no external URLs), so the file can be
archived or mailed next to the model version and still opens offline years later.
Figures are built on the Agg canvas directly instead of through pyplot, so rendering never
touches pyplot's global figure registry (nothing to leak, safe in threads and servers).
"""

from __future__ import annotations

import base64
import html
import io
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

MAX_HEATMAP_FEATURES = 40
MAX_TSNE_ROWS = 2000
MIN_TSNE_ROWS = 10
KMEANS_FAMILY = ("kmeans", "minibatch_kmeans")
MISSING = "–"

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
    _check_shapes(X, names, labels)
    meta_segments = list(model_meta.get("segments") or [])
    order = segment_order(labels, meta_segments)
    colours = segment_colours(order)
    sections = [
        _header_html(model_meta, len(labels), len(order)),
        _selection_html(selection),
        _sizes_html(labels, order, colours, meta_segments),
        _personas_html(order, colours, meta_segments, labels),
        _heatmap_html(X, names, labels, order),
        _pca_html(X, labels, order, colours, sample_size, random_state),
        _tsne_html(X, labels, order, colours, min(sample_size, MAX_TSNE_ROWS), random_state),
        _merges_html(model_meta.get("merges") or []),
        _movement_html(model_meta.get("moved")),
        _hierarchical_html(model_meta.get("hierarchical_note")),
    ]
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(_page(model_meta, sections), encoding="utf-8")
    return path


def _check_shapes(X: np.ndarray, names: list[str], labels: np.ndarray) -> None:
    """Mismatched inputs would silently mislabel charts, so refuse them up front."""
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    if len(names) != X.shape[1]:
        raise ValueError(f"{len(names)} feature names for {X.shape[1]} columns of X")
    if labels.shape != (X.shape[0],):
        raise ValueError(f"{labels.shape[0] if labels.ndim else 0} labels for {X.shape[0]} rows")


# ---------- small helpers ----------


def esc(value: Any) -> str:
    """Every input string goes through here: ids and personas may contain markup."""
    return html.escape(str(value), quote=True)


def _plain(value: Any) -> str:
    """Matplotlib reads `$...$` as math; chart labels from the inputs must show literally."""
    return str(value).replace("$", r"\$")


def _number(value: Any) -> float | None:
    """A finite float, or None for missing/NaN/non-numeric metrics."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _fmt(value: Any) -> str:
    number = _number(value)
    if number is None:
        return MISSING
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    return f"{number:.1f}" if abs(number) >= 10 else f"{number:.3f}"


def _pct(share: Any) -> str:
    number = _number(share)
    return MISSING if number is None else f"{100 * number:.1f}%"


def _new_axes(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure on the Agg canvas, outside pyplot, so no global state is created."""
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _png_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    fig.clear()
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(fig: Figure, alt: str, caption_html: str) -> str:
    return (
        f'<figure><img src="{_png_uri(fig)}" alt="{esc(alt)}">'
        f"<figcaption>{caption_html}</figcaption></figure>"
    )


def _note(text_html: str) -> str:
    return f'<p class="note">{text_html}</p>'


def _table(headers: Sequence[str], rows: list[str]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _swatch(colour: str) -> str:
    return f'<span class="sw" style="background:{colour}"></span>'


# ---------- segments, colours, sampling ----------


def segment_order(labels: np.ndarray, meta_segments: list[dict[str, Any]]) -> list[str]:
    """Segments in model_meta order, then any label not listed there, so nothing is dropped."""
    listed = list(dict.fromkeys(str(s["id"]) for s in meta_segments if "id" in s))
    extra = sorted(set(labels.tolist()) - set(listed))
    return [*listed, *extra]


def segment_colours(order: Sequence[str]) -> dict[str, str]:
    """One colour per segment, shared by every chart and table swatch."""
    n = len(order)
    if n <= 10:
        rgba = [colormaps["tab10"](i) for i in range(n)]
    elif n <= 20:
        rgba = [colormaps["tab20"](i) for i in range(n)]
    else:
        rgba = list(colormaps["turbo"](np.linspace(0.05, 0.95, n)))
    return {sid: to_hex(c) for sid, c in zip(order, rgba, strict=True)}


def stratified_sample(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted row indices, at most `size`; every segment keeps a row so small ones stay visible."""
    n = len(labels)
    if n <= size:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    ids, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    if len(ids) > size:
        return np.sort(rng.choice(n, size=max(size, 0), replace=False))
    spare = size - len(ids)
    quotas = 1 + np.floor((counts - 1) * spare / (n - len(ids))).astype(int)
    picked = [
        rng.choice(np.flatnonzero(inverse == i), size=quota, replace=False)
        for i, quota in enumerate(quotas)
    ]
    return np.sort(np.concatenate(picked))


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
        ("Users", esc(_fmt(n_users) if _number(n_users) is not None else n_users)),
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
        )
    )
    return (
        f"<h1>Segmentation report: {esc(meta.get('version', MISSING))}</h1>"
        f'<nav>{nav}</nav><dl class="meta">{body}</dl>'
    )


# ---------- model selection ----------


def _candidate_label(candidate: dict[str, Any]) -> str:
    algorithm = str(candidate.get("algorithm") or "?")
    cov = candidate.get("covariance_type")
    return f"{algorithm} ({cov})" if cov else algorithm


def _is_chosen(candidate: dict[str, Any], chosen: dict[str, Any]) -> bool:
    return (
        bool(chosen)
        and candidate.get("algorithm") == chosen.get("algorithm")
        and _number(candidate.get("k")) == _number(chosen.get("k"))
        and (candidate.get("covariance_type") or None) == (chosen.get("covariance_type") or None)
    )


def metric_series(
    candidates: list[dict[str, Any]], metric: str
) -> dict[str, list[tuple[int, float]]]:
    """(k, value) points per algorithm/covariance line, sorted by k, missing values skipped."""
    series: dict[str, list[tuple[int, float]]] = {}
    for candidate in candidates:
        k, value = _number(candidate.get("k")), _number(candidate.get(metric))
        if k is not None and value is not None:
            series.setdefault(_candidate_label(candidate), []).append((int(k), value))
    return {label: sorted(points) for label, points in series.items()}


def _line_colour(index: int) -> str:
    """Selection charts use a palette unlike the segment one, so lines don't read as segments."""
    palette = colormaps["Dark2"]
    return to_hex(palette(index % palette.N))


def _mark_chosen(ax: Axes, points: list[tuple[int, float]], chosen_k: float | None) -> None:
    for k, value in points:
        if k == chosen_k:
            ax.plot([k], [value], marker="o", ms=14, mfc="none", mec="black", mew=1.5, ls="")


def _line_chart(
    series: dict[str, list[tuple[int, float]]],
    ylabel: str,
    chosen: dict[str, Any],
    knee_k: Any = None,
) -> Figure:
    fig, ax = _new_axes(6.5, 3.6)
    chosen_label, chosen_k = _candidate_label(chosen), _number(chosen.get("k"))
    for i, (label, points) in enumerate(series.items()):
        ks, values = zip(*points, strict=True)
        ax.plot(ks, values, marker="o", color=_line_colour(i), label=_plain(label))
        if chosen and label == chosen_label:
            _mark_chosen(ax, points, chosen_k)
    knee = _number(knee_k)
    if knee is not None:
        ax.axvline(knee, color="grey", ls="--", lw=1, label=f"knee k={int(knee)}")
    ax.set_xlabel("k (clusters / components)")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _information_chart(candidates: list[dict[str, Any]], chosen: dict[str, Any]) -> Figure | None:
    """BIC solid and AIC dashed, one colour per covariance type (lower is better)."""
    gmm = [c for c in candidates if c.get("algorithm") == "gmm"]
    bic, aic = metric_series(gmm, "bic"), metric_series(gmm, "aic")
    if not bic and not aic:
        return None
    fig, ax = _new_axes(6.5, 3.6)
    chosen_label, chosen_k = _candidate_label(chosen), _number(chosen.get("k"))
    for i, label in enumerate(dict.fromkeys([*bic, *aic])):
        colour = _line_colour(i)
        for name, series, style in (("BIC", bic, "-"), ("AIC", aic, "--")):
            points = series.get(label)
            if not points:
                continue
            ks, values = zip(*points, strict=True)
            ax.plot(ks, values, style, marker="o", color=colour, label=_plain(f"{name} {label}"))
            if label == chosen_label:
                _mark_chosen(ax, points, chosen_k)
    ax.set_xlabel("components")
    ax.set_ylabel("information criterion (lower is better)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def _candidate_table(candidates: list[dict[str, Any]], chosen: dict[str, Any]) -> str:
    metrics = ("inertia", "silhouette", "calinski_harabasz", "davies_bouldin", "bic", "aic")
    better = (
        "inertia ↓",
        "silhouette ↑",
        "Calinski-Harabasz ↑",
        "Davies-Bouldin ↓",
        "BIC ↓",
        "AIC ↓",
    )
    headers = ["", "algorithm", "k", "covariance", *better]
    ordered = sorted(
        candidates,
        key=lambda c: (
            str(c.get("algorithm")),
            str(c.get("covariance_type") or ""),
            _number(c.get("k")) or 0,
        ),
    )
    rows = []
    for candidate in ordered:
        is_chosen = _is_chosen(candidate, chosen)
        tds = (
            f"<td>{'chosen' if is_chosen else ''}</td>"
            f"<td>{esc(candidate.get('algorithm', MISSING))}</td>"
            f'<td class="num">{esc(_fmt(candidate.get("k")))}</td>'
            f"<td>{esc(candidate.get('covariance_type') or MISSING)}</td>"
        )
        tds += "".join(f'<td class="num">{esc(_fmt(candidate.get(m)))}</td>' for m in metrics)
        rows.append(f'<tr class="chosen">{tds}</tr>' if is_chosen else f"<tr>{tds}</tr>")
    return _table(headers, rows)


def _selection_html(selection: dict[str, Any]) -> str:
    candidates = [c for c in selection.get("candidates") or [] if isinstance(c, dict)]
    chosen = selection.get("chosen") or {}
    parts = ['<h2 id="selection">Model selection</h2>']
    chosen_text = (
        f"{_candidate_label(chosen)}, k={chosen.get('k', MISSING)}" if chosen else "not recorded"
    )
    parts.append(f"<p><strong>Chosen:</strong> {esc(chosen_text)}</p>")
    parts.append(f"<p><strong>Rule:</strong> {esc(selection.get('rule') or MISSING)}</p>")
    if not candidates:
        parts.append(_note("No candidate scores were recorded, so there are no selection charts."))
        return "".join(parts)
    kmeans = [c for c in candidates if c.get("algorithm") in KMEANS_FAMILY]
    inertia = metric_series(kmeans, "inertia")
    knee_k = selection.get("knee_k")
    if inertia:
        knee_text = f"knee at k={esc(knee_k)}" if knee_k is not None else "no clear knee found"
        fig = _line_chart(inertia, "inertia (within-cluster sum of squares)", chosen, knee_k)
        parts.append(_figure(fig, "elbow curve", f"Elbow curve of k-means inertia; {knee_text}."))
    else:
        parts.append(_note("No k-means inertia recorded: elbow curve skipped."))
    silhouette = metric_series(candidates, "silhouette")
    if silhouette:
        sample = selection.get("silhouette_sample")
        sample_text = f" (computed on a sample of {esc(_fmt(sample))} users)" if sample else ""
        caption = f"Silhouette vs k per algorithm, higher is better{sample_text}."
        fig = _line_chart(silhouette, "silhouette", chosen)
        parts.append(_figure(fig, "silhouette vs k", caption))
    else:
        parts.append(_note("No silhouette scores recorded: silhouette chart skipped."))
    information = _information_chart(candidates, chosen)
    if information is not None:
        caption = "GMM BIC (solid) and AIC (dashed) vs components per covariance type."
        parts.append(_figure(information, "GMM BIC and AIC", caption))
    else:
        parts.append(_note("No GMM BIC/AIC recorded: information-criterion chart skipped."))
    parts.append("<p>All candidates (chosen one highlighted; arrows show which way is better):</p>")
    parts.append(_candidate_table(candidates, chosen))
    return "".join(parts)


# ---------- sizes and personas ----------


def _personas_by_id(meta_segments: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(s["id"]): s for s in meta_segments if "id" in s}


def _sizes_html(
    labels: np.ndarray,
    order: list[str],
    colours: dict[str, str],
    meta_segments: list[dict[str, Any]],
) -> str:
    head = '<h2 id="sizes">Segment sizes</h2>'
    if not order or len(labels) == 0:
        return head + _note("No users to count.")
    counts = [int(np.sum(labels == sid)) for sid in order]
    personas = _personas_by_id(meta_segments)
    ticks = [
        _plain(f"{sid} · {personas[sid].get('persona')}" if sid in personas else sid)
        for sid in order
    ]
    fig, ax = _new_axes(7, max(1.6, 0.4 * len(order) + 0.8))
    positions = np.arange(len(order))
    ax.barh(positions, counts, color=[colours[sid] for sid in order])
    ax.set_yticks(positions, ticks)
    ax.invert_yaxis()
    total = len(labels)
    for y, count in zip(positions, counts, strict=True):
        ax.text(count, y, f" {count:,} ({100 * count / total:.1f}%)", va="center", fontsize=8)
    ax.set_xlim(0, max(counts) * 1.3 or 1)
    ax.set_xlabel("users")
    caption = f"Users per segment (of {total:,} users in this run); labels show size and share."
    return head + _figure(fig, "segment sizes", caption)


def _top_features_html(top: Any) -> str:
    items = []
    for entry in top or []:
        if isinstance(entry, list | tuple) and len(entry) >= 2:
            z = _number(entry[1])
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
    personas = _personas_by_id(meta_segments)
    total = len(labels)
    rows = []
    for sid in order:
        segment = personas.get(sid, {})
        count = int(np.sum(labels == sid))
        size = segment.get("size", count)
        share = segment.get("share", count / total if total else None)
        rows.append(
            f"<tr><td>{_swatch(colours[sid])}{esc(sid)}</td>"
            f"<td>{esc(segment.get('persona', MISSING))}</td>"
            f'<td class="num">{esc(_fmt(size))}</td><td class="num">{esc(_pct(share))}</td>'
            f"<td>{_top_features_html(segment.get('top_features'))}</td></tr>"
        )
    note = "<p>Top features are segment means in standard deviations (z) from the overall mean.</p>"
    table = _table(["segment", "persona", "size", "share", "top features (z)"], rows)
    return f'<h2 id="personas">Persona labels</h2>{note}{table}'


# ---------- feature profiles ----------


def segment_means(X: np.ndarray, labels: np.ndarray, order: list[str]) -> np.ndarray:
    """Mean of each preprocessed feature per segment (rows in `order`, NaN for empty segments)."""
    means = np.full((len(order), X.shape[1]), np.nan)
    for i, sid in enumerate(order):
        mask = labels == sid
        if mask.any():
            means[i] = X[mask].mean(axis=0)
    return means


def widest_features(means: np.ndarray, limit: int = MAX_HEATMAP_FEATURES) -> np.ndarray:
    """Columns whose segment means differ most, in original order so one-hot groups stay put."""
    if means.shape[1] <= limit:
        return np.arange(means.shape[1])
    spread = np.nan_to_num(np.nanmax(means, axis=0) - np.nanmin(means, axis=0))
    return np.sort(np.argsort(-spread, kind="stable")[:limit])


def _heatmap_figure(means: np.ndarray, names: list[str], order: list[str]) -> Figure:
    n_segments, n_features = means.shape
    fig, ax = _new_axes(max(5.0, 0.38 * n_features + 2.5), max(2.6, 0.42 * n_segments + 1.6))
    limit = float(np.nanmax(np.abs(means))) if np.isfinite(means).any() else 1.0
    limit = limit or 1.0
    image = ax.imshow(means, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(np.arange(n_features), [_plain(n) for n in names], fontsize=8)
    ax.tick_params(axis="x", labelrotation=60)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
        label.set_rotation_mode("anchor")
    ax.set_yticks(np.arange(n_segments), [_plain(s) for s in order], fontsize=9)
    if n_segments * n_features <= 300:
        for (row, col), value in np.ndenumerate(means):
            if np.isfinite(value):
                colour = "white" if abs(value) > 0.6 * limit else "black"
                ax.text(
                    col,
                    row,
                    f"{0.0 if abs(value) < 0.05 else value:.1f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color=colour,
                )
    fig.colorbar(image, ax=ax, label="mean (scaled)")
    return fig


def _heatmap_html(X: np.ndarray, names: list[str], labels: np.ndarray, order: list[str]) -> str:
    head = '<h2 id="profiles">Segment feature profiles</h2>'
    if len(labels) == 0 or X.shape[1] == 0 or not order:
        return head + _note("No users or features: heat map skipped.")
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
    fig = _heatmap_figure(means[:, keep], [names[i] for i in keep], order)
    return head + _figure(fig, "segment feature heat map", esc(caption))


# ---------- 2-D maps ----------


def _scatter_figure(
    coords: np.ndarray,
    labels: np.ndarray,
    order: list[str],
    colours: dict[str, str],
    axis_labels: tuple[str, str],
) -> Figure:
    fig, ax = _new_axes(7, 5.5)
    size = float(np.clip(4000 / max(len(coords), 1), 4, 30))
    for sid in order:
        mask = labels == sid
        if mask.any():
            ax.scatter(
                coords[mask, 0],
                coords[mask, 1],
                s=size,
                alpha=0.7,
                color=colours[sid],
                label=_plain(sid),
                linewidths=0,
            )
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
        fontsize=8,
        markerscale=max(1.0, math.sqrt(36 / size)),
        ncol=1 + len(order) // 25,
        frameon=False,
    )
    return fig


def _sample_text(n_sample: int, n_total: int) -> str:
    if n_sample >= n_total:
        return f"all {n_total:,} users"
    return f"a stratified random sample of {n_sample:,} of {n_total:,} users"


def _pca_html(
    X: np.ndarray,
    labels: np.ndarray,
    order: list[str],
    colours: dict[str, str],
    sample_size: int,
    seed: int,
) -> str:
    head = '<h2 id="maps">2-D maps</h2><h3>PCA</h3>'
    rows = stratified_sample(labels, sample_size, seed)
    if len(rows) < 2 or X.shape[1] == 0:
        return head + _note(f"PCA skipped: {len(rows)} users, {X.shape[1]} features.")
    n_components = min(2, X.shape[1], len(rows))
    pca = PCA(n_components=n_components, random_state=seed)
    coords = pca.fit_transform(X[rows])
    ratios = [f"{100 * r:.0f}%" for r in np.nan_to_num(pca.explained_variance_ratio_)]
    if n_components < 2:
        coords = np.column_stack([coords, np.zeros(len(coords))])
        ratios.append("n/a")
    axis_labels = (f"PC1 ({ratios[0]} of variance)", f"PC2 ({ratios[1]} of variance)")
    fig = _scatter_figure(coords, labels[rows], order, colours, axis_labels)
    caption = (
        f"First two principal components of the preprocessed features, on "
        f"{_sample_text(len(rows), len(labels))} (seed {seed})."
    )
    return head + _figure(fig, "PCA scatter", esc(caption))


def tsne_perplexity(n_rows: int) -> int:
    """TSNE requires perplexity < n_samples; 30 is the usual value for large samples."""
    return min(30, max(5, (n_rows - 1) // 3))


def _tsne_html(
    X: np.ndarray,
    labels: np.ndarray,
    order: list[str],
    colours: dict[str, str],
    sample_size: int,
    seed: int,
) -> str:
    head = "<h3>t-SNE</h3>"
    rows = stratified_sample(labels, sample_size, seed)
    if len(rows) < MIN_TSNE_ROWS:
        text = f"t-SNE skipped: only {len(rows)} users (needs at least {MIN_TSNE_ROWS})."
        return head + _note(esc(text))
    if X.shape[1] < 2:
        return head + _note("t-SNE skipped: needs at least 2 features.")
    perplexity = tsne_perplexity(len(rows))
    tsne = TSNE(
        n_components=2,
        init="pca",
        learning_rate="auto",
        perplexity=perplexity,
        random_state=seed,
    )
    with warnings.catch_warnings():
        # sklearn 1.1 announces its 1.2 rescaling of the PCA init; nothing for us to act on.
        warnings.filterwarnings("ignore", "The PCA initialization in TSNE", FutureWarning)
        coords = tsne.fit_transform(X[rows])
    fig = _scatter_figure(coords, labels[rows], order, colours, ("t-SNE 1", "t-SNE 2"))
    caption = (
        f"t-SNE of {_sample_text(len(rows), len(labels))} (sample size {len(rows):,}, "
        f"perplexity {perplexity}, seed {seed}). Distances between clusters are not meaningful."
    )
    return head + _figure(fig, "t-SNE scatter", esc(caption))


# ---------- changes ----------


def _merges_html(merges: list[dict[str, Any]]) -> str:
    head = '<h2 id="changes">Merged segments</h2>'
    if not merges:
        return head + "<p>No segments merged.</p>"
    items = "".join(
        f"<li>{esc(m.get('merged', MISSING))} ({esc(_pct(m.get('share')))} of users) "
        f"merged into {esc(m.get('into', MISSING))}</li>"
        for m in merges
    )
    return f"{head}<p>Segments below the minimum size were merged:</p><ul>{items}</ul>"


def _movement_html(moved: dict[str, Any] | None) -> str:
    head = "<h2>Movement since the previous version</h2>"
    if not moved:
        return head + "<p>First version: nothing to compare.</p>"
    compared, moved_users = _number(moved.get("compared_users")), _number(moved.get("moved_users"))
    share = moved_users / compared if compared and moved_users is not None else None
    summary = (
        f"Compared with version {esc(moved.get('previous_version', MISSING))}: "
        f"<strong>{esc(_fmt(moved.get('moved_users')))}</strong> of "
        f"{esc(_fmt(moved.get('compared_users')))} users present in both moved segment "
        f"(<strong>{esc(_pct(share))}</strong>)."
    )
    transitions = sorted(
        moved.get("transitions") or [], key=lambda t: -(_number(t.get("users")) or 0)
    )
    if not transitions:
        return f"{head}<p>{summary}</p><p>No transitions recorded.</p>"
    rows = [
        f"<tr><td>{esc(t.get('from', MISSING))}</td><td>{esc(t.get('to', MISSING))}</td>"
        f'<td class="num">{esc(_fmt(t.get("users")))}</td>'
        f'<td class="num">{esc(_pct(_ratio(t.get("users"), compared)))}</td></tr>'
        for t in transitions
    ]
    table = _table(["from", "to", "users", "share of compared"], rows)
    return f"{head}<p>{summary}</p>{table}"


def _ratio(part: Any, whole: float | None) -> float | None:
    number = _number(part)
    return number / whole if number is not None and whole else None


def _hierarchical_html(note: Any) -> str:
    if not note:
        return ""
    return "<h2>Hierarchical clustering</h2>" + _note(esc(note))


def _page(meta: dict[str, Any], sections: list[str]) -> str:
    title = esc(f"Segmentation report {meta.get('version', '')}".strip())
    body = "\n".join(s for s in sections if s)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
