"""The workflow's steps as plain functions, configured by dataclasses (no argparse between them)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest

from segmentation.config import ModelChoice, SelectConfig, TrainConfig
from segmentation.engines import SklearnEngine, SparkEngine, make_engine
from segmentation.errors import InputError, SegmentationError
from segmentation.model_dir import load_previous
from segmentation.pipeline import Console, chosen_model, select_model, train_model
from segmentation.spark_session import SparkOptions

SPARK = SparkOptions("local[1]", "1g", {})


class Messages(list):
    def console(self) -> Console:
        return Console(say=self.append, show=self.append)


@pytest.fixture(scope="module")
def features_file(planted, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pipeline") / "features.parquet"
    planted[0].to_parquet(path, index=False)
    return path


def test_select_then_train_report_progress_through_the_console(features_file, tmp_path, capsys):
    messages = Messages()
    selection = tmp_path / "selection.json"
    config = SelectConfig(str(features_file), str(selection), sample=1500, k_min=4, k_max=6)
    summary = select_model(config, SklearnEngine(), messages.console())
    assert summary["chosen"]["k"] == 5 and json.loads(selection.read_text()) == summary
    train = TrainConfig(str(features_file), str(tmp_path / "model"), str(selection))
    meta = train_model(train, SklearnEngine(), messages.console())
    assert len(meta["segments"]) == 5 and (tmp_path / "model" / "selection.json").exists()
    assert (tmp_path / "model" / "card.md").read_text().startswith("# Model card: segments")
    assert messages[0].startswith("compared ") and messages[-1].startswith("model written to")
    assert capsys.readouterr() == ("", "")  # everything went through the console
    again = train_model(
        TrainConfig(
            str(features_file), str(tmp_path / "next"), str(selection), previous=train.output
        ),
        SklearnEngine(),
        messages.console(),
    )
    assert [s["id"] for s in again["segments"]] == [s["id"] for s in meta["segments"]]
    assert load_previous(str(tmp_path / "nothing")) is None


def test_the_options_override_the_selection(tmp_path):
    selection = tmp_path / "selection.json"
    selection.write_text(
        json.dumps({"chosen": {"algorithm": "gmm", "k": 4, "covariance_type": "diag"}})
    )
    config = TrainConfig("f.parquet", "m", str(selection), k=6)
    assert chosen_model(config) == ModelChoice("gmm", 6, "diag")
    selection.write_text("{}")
    with pytest.raises(InputError, match="not a 'segment select' output"):
        chosen_model(config)


def test_engines_are_chosen_in_one_place():
    assert isinstance(make_engine(None, SPARK), SklearnEngine)
    assert isinstance(make_engine("spark", SPARK), SparkEngine)
    with pytest.raises(SegmentationError, match="unknown engine 'dask'"):
        make_engine("dask", SPARK)


def test_each_engine_refuses_what_it_cannot_fit():
    messages = Messages()
    with pytest.raises(SegmentationError, match="algorithm 'ward' has no Spark implementation"):
        SparkEngine(SPARK).check_train(ModelChoice("ward", 5, None), messages.append)
    with pytest.raises(SegmentationError, match="bisecting_kmeans runs on --engine spark only"):
        SklearnEngine().check_train(ModelChoice("bisecting_kmeans", 5, None), messages.append)
    SparkEngine(SPARK).check_train(ModelChoice("gmm", 5, "diag"), messages.append)
    assert messages == ["warning: Spark's GaussianMixture fits full covariances only, not diag"]
    with pytest.raises(SegmentationError, match="--engine spark has no ward"):
        SparkEngine(SPARK).check_select(("kmeans", "ward"), None)
    with pytest.raises(SegmentationError, match="full covariances only"):
        SparkEngine(SPARK).check_select(("gmm",), ("full", "diag"))


def test_a_new_pseudonym_key_changes_no_segment(planted, tmp_path):
    """The same shoppers under other pseudonyms (another key) come out sorted differently;
    the selection and every shopper's segment must not change with it."""
    features = planted[0].iloc[:1200]
    other = [hashlib.sha256(f"key2-{i}".encode()).hexdigest()[:12] for i in range(len(features))]
    renamed = features.assign(user_id=other)
    results = []
    for name, frame in [("key1", features), ("key2", renamed)]:
        path = tmp_path / f"{name}.parquet"
        frame.sort_values("user_id").to_parquet(path, index=False)
        selection = tmp_path / f"{name}-selection.json"
        config = SelectConfig(str(path), str(selection), sample=600, k_min=3, k_max=6)
        chosen = select_model(config, SklearnEngine(), Messages().console())["chosen"]
        train = TrainConfig(str(path), str(tmp_path / name), str(selection))
        meta = train_model(train, SklearnEngine(), Messages().console())
        table = pd.read_csv(tmp_path / name / "assignments.csv", dtype={"user_id": str})
        back = dict(zip(frame["user_id"], features["user_id"], strict=True))
        segment = dict(zip(table["user_id"].map(back), table["segment"], strict=True))
        results.append((chosen, [s["size"] for s in meta["segments"]], segment))
    assert results[0] == results[1]
