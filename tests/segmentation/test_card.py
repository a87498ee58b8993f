"""Model cards: what they say about a trained model, what changed since the previous one,
the fairness audit, the report's card page, and model folders that cannot run code."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.preprocessing import FunctionTransformer

from segmentation.card import CARD, render, write_card
from segmentation.card_data import changes, file_digest
from segmentation.cli import main
from segmentation.errors import InputError
from segmentation.features import read_feature_table
from segmentation.model_dir import ESTIMATOR, load_fitted
from segmentation.preprocess import as_frame
from segmentation.report_card import card_html
from tests.segmentation.model_pairs import SELECTION, train_pair

HEADINGS = [
    "# Model card: segments (not published)",
    "## Data",
    "## Features and transformations",
    "## Algorithm and parameters",
    "## Selection",
    "## Segments",
    "## Intended use",
    "## Known limits",
    "## Fairness audit",
    "## Changes since the previous version",
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    return train_pair(tmp_path_factory.mktemp("cards"))


def copy_of(model: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(model, tmp_path / model.name))


def test_the_card_states_the_data_model_selection_and_segments(pair):
    card = (pair.first / CARD).read_text()
    assert [h for h in HEADINGS if h not in card.splitlines()] == []
    transactions = pd.read_csv(pair.data / "transactions.csv")
    events = pd.read_parquet(pair.data / "events.parquet")
    days = pd.to_datetime(transactions["timestamp"], utc=True).dt.date
    as_of = max(days) + pd.Timedelta(days=1)
    assert f"- As of: {as_of}" in card
    assert (
        f"- Transactions: `{(pair.data / 'transactions.csv').resolve()}` (sha256 "
        f"{file_digest(pair.data / 'transactions.csv')}, {len(transactions):,} rows, "
        f"{min(days)} to {max(days)})"
    ) in card
    assert f"{len(events):,} rows" in card
    assert "- Users: 600" in card and f"(sha256 {file_digest(pair.features)})" in card
    assert "| recency_days | median imputation, log1p, standardised |" in card
    assert "| share_deals | median imputation, standardised |" in card
    assert "| region | one-hot (" in card
    meta = json.loads((pair.first / "model.json").read_text())
    assert "- Algorithm: kmeans (engine sklearn)" in card
    assert "n_clusters=4, covariance_type=None, min_share=0.02, random_state=0" in card
    assert f"data fingerprint: {meta['data_fingerprint']}".lower() in card.lower()
    assert "Chosen: kmeans k=4." in card and SELECTION["rule"] in card
    assert "| kmeans | 4 | – | 0.31 | 1.1 |" in card  # the candidates, best first
    for segment in meta["segments"]:
        top = ", ".join(f"{n} {z:+.2f}" for n, z in segment["top_features"])
        row = f"| {segment['id']} | {segment['persona']} | {segment['size']:,} |"
        assert row in card and top in card
    assert sum(s["size"] for s in meta["segments"]) == 600
    assert "Not run. Run `segment audit`" in card
    assert "First version: trained without --previous" in card


def test_the_retrain_card_counts_the_users_who_moved(pair):
    before = pd.read_csv(pair.first / "assignments.csv", dtype=str)
    after = pd.read_csv(pair.second / "assignments.csv", dtype=str)
    both = before.merge(after, on="user_id", suffixes=("_before", "_after"))
    moved = int((both["segment_before"] != both["segment_after"]).sum())
    assert 0 < moved < 600
    card = (pair.second / CARD).read_text()
    assert f"- Users in both versions: 600; moved segment: {moved:,} ({moved / 600:.1%})" in card
    data = json.loads((pair.second / "card.json").read_text())["changes"]
    assert sum(t["users"] for t in data["transitions"]) == moved
    new = sorted(set(after["segment"]) - set(before["segment"]))
    assert data["new_segments"] == new and f"- New segments: {', '.join(new)}" in card


def test_splits_and_merges_are_named():
    users = [f"u{i}" for i in range(200)]
    previous = pd.DataFrame(
        {"user_id": users, "segment": ["seg-01"] * 100 + ["seg-02"] * 60 + ["seg-04"] * 40}
    )
    current = pd.DataFrame(
        {"user_id": users, "segment": ["seg-01"] * 50 + ["seg-03"] * 50 + ["seg-02"] * 100}
    )
    found = changes(previous, current)
    assert found["moved_users"] == 90 and found["compared_users"] == 200
    assert found["splits"] == [{"segment": "seg-01", "into": {"seg-01": 50, "seg-03": 50}}]
    assert found["merges"] == [{"segment": "seg-02", "from": {"seg-02": 60, "seg-04": 40}}]
    assert found["new_segments"] == ["seg-03"] and found["gone_segments"] == ["seg-04"]
    assert changes(None, current) is None


def test_a_fairness_audit_in_the_folder_is_in_the_card(pair, tmp_path):
    model = copy_of(pair.first, tmp_path)
    audit = {"threshold": 0.8, "flagged": [{"group": "region", "ratio": 0.61}]}
    (model / "fairness.json").write_text(json.dumps(audit))
    card = write_card(model, "v1")
    section = card.split("## Fairness audit")[1].split("\n## ")[0]
    assert "Not run" not in section and "0.8" in section and "0.61" in section
    assert card.startswith("# Model card: segments v1") and (model / CARD).read_text() == card
    (model / "fairness.json").write_text("{")
    with pytest.raises(InputError, match=r"fairness.json: cannot read it"):
        render(model)


def test_the_report_page_shows_the_card_escaped():
    html = card_html("# Title\n\n## Data\n\n- a <b> `x|y`\n\n| h | i |\n| --- | --- |\n| 1 | 2 |\n")
    assert '<h2 id="card">Model card</h2>' in html and "<h3>Data</h3>" in html
    assert "<li>a &lt;b&gt; <code>x|y</code></li>" in html and "Title" not in html
    assert "<tr><td>1</td><td>2</td></tr>" in html and card_html(None) == ""


def test_the_html_report_has_the_card_page(pair, tmp_path, capsys):
    out = tmp_path / "report.html"
    argv = ["report", str(pair.features), str(pair.second), "-o", str(out), "--sample-size", "8"]
    assert main(argv) == 0  # a sample too small for t-SNE: quick
    page = out.read_text()
    assert '<h2 id="card">Model card</h2>' in page and "<h3>Changes since the previous" in page


def test_the_saved_pipeline_loads_with_skops_and_transforms_as_trained(pair):
    assert not list(pair.first.glob("*.joblib"))
    pipeline = load_fitted(pair.first)
    features = read_feature_table(str(pair.features))
    X = pipeline.transform(as_frame(features))
    model = load_fitted(pair.first, ESTIMATOR)
    assignments = pd.read_csv(pair.first / "assignments.csv", dtype=str)
    ids = json.loads((pair.first / "assigner.json").read_text())["segments"]
    placed = np.array(ids)[model.predict(X)]
    assert (placed == assignments["segment"].to_numpy()).all()


def test_a_file_with_code_in_it_is_refused(pair, tmp_path):
    model = copy_of(pair.first, tmp_path)
    sio.dump(FunctionTransformer(func=os.system), model / "preprocess.skops")
    with pytest.raises(InputError, match=r"types 'segment train' never writes \(.*system"):
        load_fitted(model)


class Touch:
    """Unpickling this creates a file: proof that a pickle was (not) loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_a_pickled_legacy_folder_is_refused_with_one_line_and_never_unpickled(
    pair, tmp_path, capsys
):
    model = copy_of(pair.first, tmp_path)
    for name in ("preprocess.skops", "model.skops", "card.json", "card.md"):
        (model / name).unlink()
    marker = tmp_path / "unpickled"
    joblib.dump(Touch(marker), model / "preprocess.joblib")
    joblib.dump(Touch(marker), model / "model.joblib")
    with pytest.raises(InputError, match=r"saved with pickle .*retrain it with 'segment train'"):
        load_fitted(model)
    code = main(["report", str(pair.features), str(model), "-o", str(tmp_path / "r.html")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "saved with pickle" in err
    assert not marker.exists() and not (tmp_path / "r.html").exists()
    with pytest.raises(InputError, match=r"trained before model cards; retrain"):
        render(model)
