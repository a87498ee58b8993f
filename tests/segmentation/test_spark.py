"""The Spark engine (`--engine spark`) on synthetic users with planted personas.

One local Spark session (local[2], 1 GB driver) serves the whole file. Spark
needs Java 17: without it the session fixture fails with the install hint
(`make install` installs Debian's openjdk-17-jre-headless).
"""

from __future__ import annotations

import json
import pickle
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis
from sklearn.metrics import adjusted_rand_score

from core.redis_keys import bucket_of
from core.settings import environment
from segmentation.assign import SegmentAssigner
from segmentation.cli import main
from segmentation.clusters import cluster_sums, merge_small_stats
from segmentation.errors import SegmentationError
from segmentation.model_dir import ESTIMATOR, load_fitted
from segmentation.preprocess import as_frame, compile_preprocessor, make_preprocessor
from segmentation.publish import Keys
from segmentation.spark_features import FEATURES, SparkPreprocessor, read_features
from segmentation.spark_job import job_argv
from segmentation.spark_models import SparkSegmentModel
from segmentation.spark_session import SparkOptions, check_java, spark_session


@pytest.fixture(scope="session")
def spark():
    with spark_session(SparkOptions("local[2]", "1g", environment()), "segment-tests") as session:
        yield session


@pytest.fixture(scope="module")
def features_file(planted, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spark") / "features.parquet"
    planted[0].to_parquet(path, index=False)
    return path


def run(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def train_dir(tmp_path_factory, features_file, engine: str, algorithm: str) -> Path:
    out = tmp_path_factory.mktemp(f"{engine}-{algorithm}") / "model"
    argv = ["train", features_file, "-o", out, "--algorithm", algorithm, "--k", "5"]
    assert main([str(a) for a in [*argv, "--engine", engine]]) == 0
    return out


@pytest.fixture(scope="module")
def sklearn_dirs(tmp_path_factory, features_file) -> dict[str, Path]:
    return {
        algorithm: train_dir(tmp_path_factory, features_file, "sklearn", algorithm)
        for algorithm in ("kmeans", "gmm")  # gmm: full covariances, as Spark's
    }


@pytest.fixture(scope="module")
def sklearn_dir(sklearn_dirs) -> Path:
    return sklearn_dirs["kmeans"]


@pytest.fixture(scope="module")
def spark_dirs(spark, tmp_path_factory, features_file) -> dict[str, Path]:
    return {
        algorithm: train_dir(tmp_path_factory, features_file, "spark", algorithm)
        for algorithm in ("kmeans", "gmm")  # bisecting k-means: test_the_estimator_contract
    }


def assignments(model_dir: Path) -> pd.Series:
    frame = pd.read_csv(model_dir / "assignments.csv", dtype=str)
    return frame.set_index("user_id")["segment"]


def test_preprocessing_has_the_scikit_learn_semantics(spark, planted, features_file):
    features, _ = planted
    table = read_features(spark, str(features_file))
    pre = SparkPreprocessor().fit(table.frame)
    ours = compile_preprocessor(pre.to_sklearn())
    theirs = compile_preprocessor(make_preprocessor().fit(as_frame(features)))
    assert ours["numeric"] == theirs["numeric"] and ours["categories"] == theirs["categories"]
    for name, median in zip(ours["numeric"], ours["median"], strict=True):
        column = features[name].to_numpy(float)  # an order statistic where numpy averages two
        low = np.nanpercentile(column, 50, method="lower") if not np.isnan(column).all() else 0
        high = np.nanpercentile(column, 50, method="higher") if not np.isnan(column).all() else 0
        assert low <= median <= high, name
    assert np.allclose(ours["mean"], theirs["mean"], rtol=1e-3, atol=1e-6)
    assert np.allclose(ours["scale"], theirs["scale"], rtol=1e-3, atol=1e-6)
    rows = pre.transform(table.frame).select("user_id", FEATURES).toPandas()
    rows = rows.set_index("user_id").loc[features["user_id"]]
    X_spark = np.vstack([v.toArray() for v in rows[FEATURES]])
    X_sklearn = pre.to_sklearn().transform(as_frame(features))
    assert np.allclose(X_spark, X_sklearn, atol=1e-9)


def test_spark_and_scikit_learn_agree(planted, sklearn_dir, spark_dirs):
    features, truth = planted
    ours, theirs = assignments(spark_dirs["kmeans"]), assignments(sklearn_dir)
    assert len(ours) == len(theirs) == len(features)
    agreement = adjusted_rand_score(theirs.loc[ours.index], ours)
    assert agreement >= 0.9, agreement
    truth = pd.Series(truth.to_numpy(), index=features["user_id"])
    assert adjusted_rand_score(truth.loc[ours.index], ours) >= 0.9
    meta = json.loads((spark_dirs["kmeans"] / "model.json").read_text())
    sk_meta = json.loads((sklearn_dir / "model.json").read_text())
    assert {s["persona"] for s in meta["segments"]} == {s["persona"] for s in sk_meta["segments"]}
    assert meta["engine"]["name"] == "spark" and meta["n_users"] == len(features)
    assert meta["model_features"] == sk_meta["model_features"]


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm"])
def test_spark_trains_and_its_spec_places_users_alike(planted, spark_dirs, sklearn_dirs, algorithm):
    features, _ = planted
    model_dir = spark_dirs[algorithm]
    ours = assignments(model_dir)
    meta = json.loads((model_dir / "model.json").read_text())
    assert meta["algorithm"] == algorithm and len(meta["segments"]) == 5
    assert meta["scores"]["silhouette"] > 0 and meta["scores"]["davies_bouldin"] > 0
    theirs = assignments(sklearn_dirs[algorithm])
    assert adjusted_rand_score(theirs.loc[ours.index], ours) >= 0.9
    # The published spec (what the real-time path uses) places users where Spark did.
    assigner = SegmentAssigner(json.loads((model_dir / "assigner.json").read_text()))
    placed = pd.Series(
        assigner.predict_many(features.to_dict("records")), index=features["user_id"]
    )
    assert (placed.loc[ours.index] == ours).mean() >= 0.999
    model = load_fitted(model_dir, ESTIMATOR)  # skops, with the project's types only
    assert isinstance(model, SparkSegmentModel) and model.n_clusters_ == 5


def test_the_estimator_contract(spark, features_file, sklearn_dir):
    """With bisecting k-means, the third MLlib algorithm (kmeans and gmm run through the CLI)."""
    table = read_features(spark, str(features_file))
    X = SparkPreprocessor().fit(table.frame).transform(table.frame)
    model = SparkSegmentModel("bisecting_kmeans", 5, random_state=0)
    assert model.get_params()["n_clusters"] == 5 and not hasattr(model, "labels_")
    assert model.fit(X) is model and model.n_clusters_ == 5
    assert model.cluster_centers_.shape == (5, model.n_features_in_)
    labels = model.predict(X).select("user_id", "segment_index").toPandas()
    labels = labels.set_index("user_id")["segment_index"]
    assert sorted(labels.value_counts()) == sorted(model.counts_.astype(int))
    theirs = assignments(sklearn_dir)
    assert adjusted_rand_score(theirs.loc[labels.index], labels) >= 0.9
    restored = pickle.loads(pickle.dumps(model))  # plain parameters, no handle into the JVM
    again = restored.predict(X).select("user_id", "segment_index").toPandas()
    assert again.set_index("user_id")["segment_index"].loc[labels.index].equals(labels)
    with pytest.raises(ValueError, match="algorithm must be one of kmeans, bisecting_kmeans, gmm"):
        SparkSegmentModel("ward").fit(X)
    with pytest.raises(ValueError, match="n_clusters must be a positive integer, got 0"):
        SparkSegmentModel(n_clusters=0).fit(X)


def test_small_clusters_are_merged_as_in_the_sklearn_model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 3))
    labels = rng.choice(6, size=1000, p=[0.4, 0.3, 0.2, 0.085, 0.01, 0.005])
    counts = np.bincount(labels, minlength=6).astype(float)
    sums = np.zeros((6, 3))
    np.add.at(sums, labels, X)
    expected_map, expected_merges = merge_small_stats(*cluster_sums(labels, X, 6), 0.02)
    label_map, merges = merge_small_stats(counts, sums, 0.02)
    assert np.array_equal(label_map, expected_map) and merges == expected_merges


def test_model_selection_finds_the_planted_personas(spark, features_file, tmp_path, capsys):
    out = tmp_path / "selection.json"
    code, err = run(
        capsys,
        "select",
        features_file,
        "-o",
        out,
        "--engine",
        "spark",
        "--k-min",
        "4",
        "--k-max",
        "6",
        "--algorithms",
        "kmeans,gmm",
    )
    assert code == 0, err
    selection = json.loads(out.read_text())
    assert selection["chosen"]["k"] == 5 and "k=5" in err
    assert selection["engine"] == "spark" and selection["bic_best"]["k"] in (4, 5, 6)
    candidates = selection["candidates"]
    assert {(c["algorithm"], c["k"]) for c in candidates} == {
        (a, k) for a in ("kmeans", "gmm") for k in (4, 5, 6)
    }
    assert all(c["silhouette"] and c["davies_bouldin"] for c in candidates)
    assert all(c["bic"] and c["aic"] for c in candidates if c["algorithm"] == "gmm")


def test_publishing_the_spark_output(spark_dirs, sklearn_dir, redis_url, capsys):
    client = redis.Redis.from_url(redis_url)
    published = {}
    for name, model_dir in (("spark", spark_dirs["kmeans"]), ("sklearn", sklearn_dir)):
        keys = Keys(f"sp{uuid.uuid4().hex[:8]}")
        try:
            code, err = run(
                capsys,
                "publish",
                model_dir,
                "--redis-url",
                redis_url,
                "--namespace",
                keys.namespace,
            )
            assert code == 0, err
            version = client.get(keys.active).decode()
            expected = assignments(model_dir)
            with client.pipeline(transaction=False) as pipe:
                for user in expected.index:
                    pipe.hget(keys.bucket(version, bucket_of(user)), user)
                stored = [v.decode() for v in pipe.execute()]
            assert stored == expected.tolist()
            meta = {k.decode(): v.decode() for k, v in client.hgetall(keys.meta(version)).items()}
            assert meta["rows"] == str(len(expected)) and meta["status"] == "complete"
            published[name] = pd.Series(stored, index=expected.index)
        finally:
            for key in client.scan_iter(match=f"{keys.namespace}:*"):
                client.unlink(key)
    both = published["sklearn"].loc[published["spark"].index]
    assert adjusted_rand_score(both, published["spark"]) >= 0.9


def test_the_saved_preprocessing_is_the_one_the_spec_and_report_use(planted, spark_dirs):
    """`segment report` transforms features with preprocess.skops; it must match the spec."""
    features, _ = planted
    model_dir = spark_dirs["kmeans"]
    pipeline = load_fitted(model_dir)
    assigner = SegmentAssigner(json.loads((model_dir / "assigner.json").read_text()))
    rows = features.head(200)
    expected = assigner.transform_many(rows.to_dict("records"))
    assert np.allclose(pipeline.transform(as_frame(rows)), expected, atol=1e-9)


def bad_features(planted, tmp_path: Path, case: str) -> Path:
    features = planted[0].copy()
    path = tmp_path / "features.parquet"
    if case == "empty":
        features = features.iloc[:0]
    elif case == "missing column":
        features = features.drop(columns=["monetary"])
    elif case == "no user id":
        features.loc[7, "user_id"] = None
    elif case == "duplicate id":
        features.loc[7, "user_id"] = features.loc[8, "user_id"]
    elif case == "infinite":
        features.loc[7, "monetary"] = np.inf
    elif case == "few users":
        features = features.iloc[:3]
    elif case == "text in a number":
        path = tmp_path / "features.csv"
        features = features.astype({"monetary": object})
        features.loc[7, "monetary"] = "12,50 EUR"
        features.to_csv(path, index=False)
        return path
    features.to_parquet(path, index=False)
    return path


@pytest.mark.parametrize(
    "case, argv, expected",
    [
        ("empty", [], "features.parquet: the features table has no users"),
        ("missing column", [], "missing feature columns monetary"),
        ("no user id", [], "column 'user_id': 1 row(s) without a user id"),
        ("duplicate id", [], "column 'user_id': duplicate user id"),
        ("infinite", [], "column 'monetary': 1 infinite value(s)"),
        ("text in a number", [], "column 'monetary': 1 non-numeric value(s), e.g. '12,50 EUR'"),
        ("few users", [], "only 3 distinct users for k=5; lower --k to at most 3"),
        ("few users", ["--engine", "dask"], "unknown engine 'dask'; use --engine sklearn or spark"),
        ("few users", ["--algorithm", "ward"], "algorithm 'ward' has no Spark implementation"),
        ("few users", ["--features-missing"], "file not found"),
    ],
)
def test_bad_input_gets_one_line_errors(spark, planted, tmp_path, capsys, case, argv, expected):
    path = bad_features(planted, tmp_path, case)
    if argv == ["--features-missing"]:
        path, argv = tmp_path / "nope.parquet", []
    options = {"--engine": "spark", "--algorithm": "kmeans", "--k": "5"}
    options.update(dict(zip(argv[::2], argv[1::2], strict=True)))
    code, err = run(capsys, "train", path, "-o", tmp_path / "m", *sum(options.items(), ()))
    assert code == 1 and err.startswith("Error: ") and expected in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "m" / "model.json").exists()


def test_missing_java_is_a_clear_error(tmp_path):
    with pytest.raises(SegmentationError, match=r"Java not found: .*make install"):
        check_java({"PATH": str(tmp_path)})
    with pytest.raises(SegmentationError, match="has no bin/java"):
        check_java({"JAVA_HOME": str(tmp_path), "PATH": ""})


def test_spark_submit_entry_implies_the_spark_engine():
    assert job_argv(["train", "f.parquet", "-o", "m"]) == [
        "train",
        "--engine",
        "spark",
        "f.parquet",
        "-o",
        "m",
    ]
    assert job_argv(["select", "f.parquet", "--engine", "spark"])[-1] == "spark"
    with pytest.raises(SystemExit, match="runs one of select, train, retrain"):
        job_argv(["publish", "m"])
