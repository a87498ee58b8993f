"""The HTML report: self-contained, every chart a real PNG, inputs escaped, edge cases covered."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.preprocessing import StandardScaler

from segmentation.report import build_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
IMAGE = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")
PERSONAS = ["bargain_hunter", "default", "<b>x</b>"]


def blobs(n: int = 300, features: int = 6, centers: int = 3) -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=n, centers=centers, n_features=features, random_state=7)
    return StandardScaler().fit_transform(X), np.array([f"seg-0{i + 1}" for i in y])


def fake_meta(labels: np.ndarray, personas: list[str], moved: bool = True) -> dict[str, Any]:
    ids = sorted(set(labels.tolist()))
    segments = [
        {
            "id": sid,
            "persona": persona,
            "size": int((labels == sid).sum()),
            "share": float((labels == sid).mean()),
            "top_features": [["monetary", -1.2], ["deal_share", 1.5]],
        }
        for sid, persona in zip(ids, personas, strict=False)
    ]
    return {
        "version": "2026-11-24T20-15-00Z-ab12cd",
        "algorithm": "kmeans",
        "params": {"n_clusters": len(ids)},
        "created_at": "2026-11-24T20:15:00Z",
        "n_users": len(labels),
        "segments": segments,
        "merges": [{"merged": "seg-07", "into": "seg-02", "share": 0.011}] if moved else [],
        "moved": {
            "previous_version": "2026-10-01T00-00-00Z-ff00aa",
            "compared_users": 1000,
            "moved_users": 120,
            "transitions": [
                {"from": "seg-01", "to": "seg-02", "users": 40},
                {"from": "seg-03", "to": "seg-01", "users": 80},
            ],
        }
        if moved
        else None,
        "hierarchical_note": "Ward clustering was fitted on a sample of 5000 users."
        if moved
        else None,
    }


def fake_selection() -> dict[str, Any]:
    candidates: list[dict[str, Any]] = []
    for k in range(2, 7):
        peak = abs(k - 3)
        candidates.append(
            {
                "algorithm": "kmeans",
                "k": k,
                "covariance_type": None,
                "inertia": 900.0 / k,
                "silhouette": 0.7 - 0.1 * peak,
                "calinski_harabasz": 500.0,
                "davies_bouldin": 0.4,
                "bic": None,
                "aic": None,
            }
        )
        candidates.append({"algorithm": "ward", "k": k, "silhouette": 0.6 - 0.1 * peak})
        for cov in ("full", "diag"):
            candidates.append(
                {
                    "algorithm": "gmm",
                    "k": k,
                    "covariance_type": cov,
                    "silhouette": None,
                    "bic": 5000.0 + 300 * peak,
                    "aic": 4800.0 + 300 * peak,
                }
            )
    return {
        "rule": "highest silhouette within one of the knee",
        "knee_k": 3,
        "chosen": {"algorithm": "kmeans", "k": 3, "covariance_type": None},
        "candidates": candidates,
        "silhouette_sample": 10000,
    }


def images(page: str) -> list[bytes]:
    return [base64.b64decode(data, validate=True) for data in IMAGE.findall(page)]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """Rendered once: t-SNE makes each report take a second or two."""
    X, labels = blobs()
    names = ["monetary", "deal_share", "frequency", "recency", "region=DE", "region=FR"]
    out = tmp_path_factory.mktemp("report") / "nested" / "report.html"
    figures_before = plt.get_fignums()
    path = build_report(X, names, labels, fake_meta(labels, PERSONAS), fake_selection(), out)
    assert plt.get_fignums() == figures_before
    return path, out, path.read_text(encoding="utf-8")


def test_returns_the_written_path(report: tuple[Path, Path, str]) -> None:
    path, out, page = report
    assert path == out and path.is_file()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


def test_is_self_contained(report: tuple[Path, Path, str]) -> None:
    page = report[2]
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert len(re.findall(r"<img ", page)) == len(IMAGE.findall(page))


def test_every_chart_is_an_inline_png(report: tuple[Path, Path, str]) -> None:
    pngs = images(report[2])
    # elbow, silhouette, BIC/AIC, sizes, heat map, PCA, t-SNE
    assert len(pngs) >= 7
    assert all(png.startswith(PNG_SIGNATURE) and len(png) > 1000 for png in pngs)


def test_segments_and_personas_appear_escaped(report: tuple[Path, Path, str]) -> None:
    page = report[2]
    for sid in ("seg-01", "seg-02", "seg-03"):
        assert sid in page
    assert "bargain_hunter" in page and ">default<" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    assert "<b>x</b>" not in page
    assert "monetary -1.20" in page and "deal_share +1.50" in page


def test_selection_section(report: tuple[Path, Path, str]) -> None:
    page = report[2]
    assert "highest silhouette within one of the knee" in page
    assert "knee at k=3" in page
    chosen = re.findall(r'<tr class="chosen">(.*?)</tr>', page)
    assert len(chosen) == 1
    assert "kmeans" in chosen[0] and '<td class="num">3</td>' in chosen[0]
    assert page.count("<td>gmm</td>") == 10 and page.count("<td>ward</td>") == 5


def test_changes_sections(report: tuple[Path, Path, str]) -> None:
    page = report[2]
    assert "<strong>120</strong> of 1,000" in page and "12.0%" in page
    assert "2026-10-01T00-00-00Z-ff00aa" in page
    transitions = re.findall(r"<tr><td>(seg-\d+)</td><td>(seg-\d+)</td>", page)
    assert transitions == [("seg-03", "seg-01"), ("seg-01", "seg-02")]
    assert "seg-07 (1.1% of users) merged into seg-02" in page
    assert "Ward clustering was fitted on a sample of 5000 users." in page
    assert "t-SNE of all 300 users" in page


def test_sections_in_order(report: tuple[Path, Path, str]) -> None:
    page = report[2]
    headings = [
        ">Model selection</h2>",
        ">Segment sizes</h2>",
        ">Persona labels</h2>",
        ">Segment feature profiles</h2>",
        "<h3>PCA</h3>",
        "<h3>t-SNE</h3>",
        ">Merged segments</h2>",
        ">Movement since the previous version</h2>",
        ">Hierarchical clustering</h2>",
    ]
    positions = [page.index(h) for h in headings]
    assert positions == sorted(positions)


def test_tiny_single_segment_report_without_candidates(tmp_path: Path) -> None:
    X, _ = blobs(n=8, features=6, centers=1)
    labels = np.array(["seg-01"] * 8)
    selection = {"rule": "only one model", "knee_k": None, "chosen": None, "candidates": []}
    meta = fake_meta(labels, ["default"], moved=False)
    path = build_report(
        X, [f"f{i}" for i in range(6)], labels, meta, selection, tmp_path / "r.html"
    )
    page = path.read_text(encoding="utf-8")
    assert "t-SNE skipped: only 8 users" in page
    assert "No candidate scores were recorded" in page
    assert "First version: nothing to compare." in page
    assert "No segments merged." in page
    assert "Hierarchical clustering" not in page
    pngs = images(page)
    assert len(pngs) == 3  # sizes, heat map, PCA
    assert all(png.startswith(PNG_SIGNATURE) for png in pngs)


def test_two_features_markup_ids_and_sampling(tmp_path: Path) -> None:
    X, y = blobs(n=120, features=2, centers=2)
    labels = np.where(y == "seg-01", "<i>a</i>", "b&c")
    meta = fake_meta(labels, ["$cheap$", "<script>alert(1)</script>"], moved=False)
    names = ["spend_$_eur_$", "<deal>"]
    path = build_report(
        X, names, labels, meta, fake_selection(), tmp_path / "r.html", sample_size=50
    )
    page = path.read_text(encoding="utf-8")
    assert "&lt;i&gt;a&lt;/i&gt;" in page and "b&amp;c" in page and "<i>a</i>" not in page
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "sample of 50 of 120 users" in page and "sample size 50," in page
    assert len(images(page)) >= 7


def test_many_features_keep_the_widest_forty(tmp_path: Path) -> None:
    X, labels = blobs(n=150, features=45)
    path = build_report(
        X,
        [f"f{i}" for i in range(45)],
        labels,
        fake_meta(labels, PERSONAS),
        {},
        tmp_path / "r.html",
    )
    assert "Showing the 40 of 45 features" in path.read_text(encoding="utf-8")


def test_mismatched_inputs_are_refused(tmp_path: Path) -> None:
    X, labels = blobs(n=30)
    with pytest.raises(ValueError, match="feature names"):
        build_report(X, ["a"], labels, {}, {}, tmp_path / "r.html")
    with pytest.raises(ValueError, match="labels"):
        build_report(X, list("abcdef"), labels[:5], {}, {}, tmp_path / "r.html")
