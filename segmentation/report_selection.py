"""The report's model-selection section: the rule, elbow, silhouette and BIC/AIC charts, and
every candidate's scores."""

from __future__ import annotations

from typing import Any

from segmentation.report_data import (
    KMEANS_FAMILY,
    candidate_label,
    is_chosen,
    metric_series,
    number,
)
from segmentation.report_figures import information_chart, line_chart
from segmentation.report_html import MISSING, esc, figure, fmt, note, table


def _candidatetable(candidates: list[dict[str, Any]], chosen: dict[str, Any]) -> str:
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
            number(c.get("k")) or 0,
        ),
    )
    rows = []
    for candidate in ordered:
        chosen_row = is_chosen(candidate, chosen)
        tds = (
            f"<td>{'chosen' if chosen_row else ''}</td>"
            f"<td>{esc(candidate.get('algorithm', MISSING))}</td>"
            f'<td class="num">{esc(fmt(candidate.get("k")))}</td>'
            f"<td>{esc(candidate.get('covariance_type') or MISSING)}</td>"
        )
        tds += "".join(f'<td class="num">{esc(fmt(candidate.get(m)))}</td>' for m in metrics)
        rows.append(f'<tr class="chosen">{tds}</tr>' if chosen_row else f"<tr>{tds}</tr>")
    return table(headers, rows)


def selection_html(selection: dict[str, Any]) -> str:
    candidates = [c for c in selection.get("candidates") or [] if isinstance(c, dict)]
    chosen = selection.get("chosen") or {}
    parts = ['<h2 id="selection">Model selection</h2>']
    chosen_text = (
        f"{candidate_label(chosen)}, k={chosen.get('k', MISSING)}" if chosen else "not recorded"
    )
    parts.append(f"<p><strong>Chosen:</strong> {esc(chosen_text)}</p>")
    parts.append(f"<p><strong>Rule:</strong> {esc(selection.get('rule') or MISSING)}</p>")
    if not candidates:
        parts.append(note("No candidate scores were recorded, so there are no selection charts."))
        return "".join(parts)
    kmeans = [c for c in candidates if c.get("algorithm") in KMEANS_FAMILY]
    inertia = metric_series(kmeans, "inertia")
    knee_k = selection.get("knee_k")
    if inertia:
        knee_text = f"knee at k={esc(knee_k)}" if knee_k is not None else "no clear knee found"
        fig = line_chart(inertia, "inertia (within-cluster sum of squares)", chosen, knee_k)
        parts.append(figure(fig, "elbow curve", f"Elbow curve of k-means inertia; {knee_text}."))
    else:
        parts.append(note("No k-means inertia recorded: elbow curve skipped."))
    silhouette = metric_series(candidates, "silhouette")
    if silhouette:
        sample = selection.get("silhouette_sample")
        sample_text = f" (computed on a sample of {esc(fmt(sample))} users)" if sample else ""
        caption = f"Silhouette vs k per algorithm, higher is better{sample_text}."
        fig = line_chart(silhouette, "silhouette", chosen)
        parts.append(figure(fig, "silhouette vs k", caption))
    else:
        parts.append(note("No silhouette scores recorded: silhouette chart skipped."))
    information = information_chart(candidates, chosen)
    if information is not None:
        caption = "GMM BIC (solid) and AIC (dashed) vs components per covariance type."
        parts.append(figure(information, "GMM BIC and AIC", caption))
    else:
        parts.append(note("No GMM BIC/AIC recorded: information-criterion chart skipped."))
    parts.append("<p>All candidates (chosen one highlighted; arrows show which way is better):</p>")
    parts.append(_candidatetable(candidates, chosen))
    return "".join(parts)
