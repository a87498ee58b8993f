"""The report's charts, as PNG data URIs.

Figures are built on the Agg canvas directly instead of through pyplot, so
rendering never touches pyplot's global figure registry (nothing to leak, safe
in threads and servers).
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from segmentation.report_data import candidate_label, metric_series, number


def plain(value: Any) -> str:
    """Matplotlib reads `$...$` as math; chart labels from the inputs must show literally."""
    return str(value).replace("$", r"\$")


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


def _line_colour(index: int) -> str:
    """Selection charts use a palette unlike the segment one, so lines don't read as segments."""
    palette = colormaps["Dark2"]
    return to_hex(palette(index % palette.N))


def _new_axes(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure on the Agg canvas, outside pyplot, so no global state is created."""
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def png_uri(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    fig.clear()
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# ---------- model selection ----------


def _mark_chosen(ax: Axes, points: list[tuple[int, float]], chosen_k: float | None) -> None:
    for k, value in points:
        if k == chosen_k:
            ax.plot([k], [value], marker="o", ms=14, mfc="none", mec="black", mew=1.5, ls="")


def _k_axis(ax: Axes, xlabel: str, ylabel: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def line_chart(
    series: dict[str, list[tuple[int, float]]],
    ylabel: str,
    chosen: dict[str, Any],
    knee_k: Any = None,
) -> Figure:
    fig, ax = _new_axes(6.5, 3.6)
    chosen_label, chosen_k = candidate_label(chosen), number(chosen.get("k"))
    for i, (label, points) in enumerate(series.items()):
        ks, values = zip(*points, strict=True)
        ax.plot(ks, values, marker="o", color=_line_colour(i), label=plain(label))
        if chosen and label == chosen_label:
            _mark_chosen(ax, points, chosen_k)
    knee = number(knee_k)
    if knee is not None:
        ax.axvline(knee, color="grey", ls="--", lw=1, label=f"knee k={int(knee)}")
    _k_axis(ax, "k (clusters / components)", ylabel)
    return fig


def information_chart(candidates: list[dict[str, Any]], chosen: dict[str, Any]) -> Figure | None:
    """BIC solid and AIC dashed, one colour per covariance type (lower is better)."""
    gmm = [c for c in candidates if c.get("algorithm") == "gmm"]
    bic, aic = metric_series(gmm, "bic"), metric_series(gmm, "aic")
    if not bic and not aic:
        return None
    fig, ax = _new_axes(6.5, 3.6)
    chosen_label, chosen_k = candidate_label(chosen), number(chosen.get("k"))
    for i, label in enumerate(dict.fromkeys([*bic, *aic])):
        colour = _line_colour(i)
        for name, series, style in (("BIC", bic, "-"), ("AIC", aic, "--")):
            points = series.get(label)
            if not points:
                continue
            ks, values = zip(*points, strict=True)
            ax.plot(ks, values, style, marker="o", color=colour, label=plain(f"{name} {label}"))
            if label == chosen_label:
                _mark_chosen(ax, points, chosen_k)
    _k_axis(ax, "components", "information criterion (lower is better)")
    return fig


# ---------- segments ----------


def sizes_chart(
    order: list[str], counts: list[int], ticks: list[str], colours: dict[str, str], total: int
) -> Figure:
    fig, ax = _new_axes(7, max(1.6, 0.4 * len(order) + 0.8))
    positions = np.arange(len(order))
    ax.barh(positions, counts, color=[colours[sid] for sid in order])
    ax.set_yticks(positions, [plain(t) for t in ticks])
    ax.invert_yaxis()
    for y, count in zip(positions, counts, strict=True):
        ax.text(count, y, f" {count:,} ({100 * count / total:.1f}%)", va="center", fontsize=8)
    ax.set_xlim(0, max(counts) * 1.3 or 1)
    ax.set_xlabel("users")
    return fig


def heatmap(means: np.ndarray, names: list[str], order: list[str]) -> Figure:
    n_segments, n_features = means.shape
    fig, ax = _new_axes(max(5.0, 0.38 * n_features + 2.5), max(2.6, 0.42 * n_segments + 1.6))
    limit = float(np.nanmax(np.abs(means))) if np.isfinite(means).any() else 1.0
    limit = limit or 1.0
    image = ax.imshow(means, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(np.arange(n_features), [plain(n) for n in names], fontsize=8)
    ax.tick_params(axis="x", labelrotation=60)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
        label.set_rotation_mode("anchor")
    ax.set_yticks(np.arange(n_segments), [plain(s) for s in order], fontsize=9)
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


def scatter(
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
                label=plain(sid),
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
