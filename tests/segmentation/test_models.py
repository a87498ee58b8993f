"""Estimators, selection, matching and labels on synthetic users with planted personas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import check_estimator

from segmentation.assign import SegmentAssigner, model_spec
from segmentation.clusters import cluster_sums, merge_small_stats
from segmentation.labels import SIGNATURES, suggest_personas
from segmentation.matching import match_segments
from segmentation.models import SegmentModel
from segmentation.preprocess import as_frame, compile_preprocessor, make_preprocessor
from segmentation.selection import Candidate, choose, knee, sweep
from segmentation.train import train


@pytest.fixture(scope="module")
def X_planted(planted):
    features, truth = planted
    return make_preprocessor().fit_transform(as_frame(features)), truth.to_numpy()


@pytest.mark.parametrize("algorithm", ["kmeans", "gmm"])
def test_planted_personas_are_recovered(X_planted, algorithm):
    X, truth = X_planted
    model = SegmentModel(algorithm, 5, covariance_type="diag", random_state=0).fit(X)
    assert adjusted_rand_score(truth, model.labels_) >= 0.9


@pytest.mark.parametrize("algorithm", ["kmeans", "minibatch_kmeans", "gmm", "ward"])
def test_estimators_follow_the_sklearn_contract(algorithm):
    check_estimator(SegmentModel(algorithm=algorithm, n_clusters=3, random_state=0))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"algorithm": "dbscan"}, "algorithm must be one of kmeans, minibatch_kmeans, gmm, ward"),
        ({"n_clusters": 0}, "n_clusters must be a positive integer, got 0"),
        ({"covariance_type": "round"}, "covariance_type must be one of full, tied, diag"),
        ({"min_share": 0.7}, "min_share must be within [0, 0.5), got 0.7"),
    ],
)
def test_bad_parameters_have_exact_messages(params, message):
    with pytest.raises(ValueError) as err:
        SegmentModel(**params).fit(np.random.default_rng(0).normal(size=(20, 2)))
    assert message in str(err.value)


def test_small_clusters_are_merged_into_the_nearest():
    rng = np.random.default_rng(0)
    big_a = rng.normal(0, 0.1, (500, 2))
    big_b = rng.normal([10, 0], 0.1, (500, 2))
    tiny = rng.normal([9, 1], 0.1, (5, 2))  # 0.5% of users, next to big_b
    X = np.vstack([big_a, big_b, tiny])
    model = SegmentModel("kmeans", 3, min_share=0.02, random_state=0).fit(X)
    assert model.n_clusters_ == 2
    assert len(model.merges_) == 1 and model.merges_[0]["share"] == pytest.approx(5 / 1005)
    assert len(set(model.labels_[1000:]) | set(model.labels_[500:1000])) == 1


def test_merge_small_with_an_empty_cluster():
    labels = np.array([0, 0, 0, 2, 2, 2])
    label_map, merges = merge_small_stats(*cluster_sums(labels, np.zeros((6, 1)), 3), 0.1)
    assert sorted(set(label_map.tolist())) == [0, 1] and merges[0]["merged"] == 1


def test_ward_fits_on_a_sample_and_assigns_the_rest(X_planted):
    X, truth = X_planted
    model = SegmentModel("ward", 5, max_hierarchical_samples=500, random_state=0).fit(X)
    assert model.fitted_on_sample_ and model.labels_.shape == (X.shape[0],)
    assert adjusted_rand_score(truth, model.labels_) >= 0.8


def test_knee_of_an_elbow_curve():
    ks = list(range(2, 11))
    inertia = [1000, 500, 250, 120, 110, 100, 92, 85, 80]
    assert knee(ks, inertia) == 5
    assert knee(ks, [5.0] * 9) is None and knee([2, 3], [2.0, 1.0]) is None


def _cand(alg, k, sil, db, share=0.2):
    return Candidate(alg, k, silhouette=sil, davies_bouldin=db, min_share=share)


def test_choice_rule():
    pick = choose(
        [
            _cand("kmeans", 3, 0.40, 1.0),
            _cand("gmm", 5, 0.50, 1.2),
            _cand("ward", 6, 0.60, 0.9, share=0.01),
        ]
    )
    assert (pick.algorithm, pick.k) == ("gmm", 5)  # ward excluded: a 1% segment
    tie = choose(
        [_cand("gmm", 4, 0.505, 1.0), _cand("kmeans", 4, 0.50, 1.0), _cand("kmeans", 6, 0.50, 1.0)]
    )
    assert (tie.algorithm, tie.k) == ("kmeans", 4)  # within 0.01: same DB, smaller k, simpler


def test_sweep_finds_the_planted_k(X_planted):
    X, _ = X_planted
    candidates = sweep(X[:1500], range(3, 8), ("diag",), silhouette_sample=1500)
    assert {c.algorithm for c in candidates} == {"kmeans", "gmm", "ward"}
    assert choose(candidates).k == 5


def test_matching_keeps_ids_when_cluster_order_is_permuted():
    rng = np.random.default_rng(0)
    old = {f"seg-{i:02d}": rng.normal(size=4) * 5 for i in range(1, 5)}
    order = [2, 0, 3, 1]
    new = np.vstack([list(old.values())[i] + 0.01 for i in order])
    ids, _ = match_segments(new, np.ones(4), old)
    assert ids == [f"seg-{i + 1:02d}" for i in order]


def test_matching_gives_a_far_cluster_a_new_id():
    old = {"seg-01": np.zeros(2), "seg-07": np.full(2, 10.0)}
    ids, distances = match_segments(np.array([[0.1, 0], [10, 10], [50, -50]]), np.ones(2), old)
    assert ids[:2] == ["seg-01", "seg-07"] and ids[2] == "seg-08"
    assert set(distances) == {"seg-01", "seg-07"}


def test_retrain_keeps_segment_ids_and_personas_for_permuted_clusters(planted):
    features, _ = planted
    first = train(features, "kmeans", 5, random_state=0)
    shuffled = features.sample(frac=1.0, random_state=3).reset_index(drop=True)
    second = train(shuffled, "kmeans", 5, random_state=7, previous=first.meta)
    a = first.assignments.set_index("user_id")["segment"]
    b = second.assignments.set_index("user_id")["segment"].loc[a.index]
    assert (a == b).mean() > 0.97
    assert {s["id"]: s["persona"] for s in first.meta["segments"]} == {
        s["id"]: s["persona"] for s in second.meta["segments"]
    }


def test_personas_are_suggested_from_distinguishing_features(planted):
    features, truth = planted
    result = train(features, "kmeans", 5, random_state=0)
    agreement = (result.assignments["persona"].to_numpy() == truth.to_numpy()).mean()
    assert agreement > 0.9


def test_weak_signatures_stay_default():
    z = pd.DataFrame({c: [0.0, 0.0] for sig in SIGNATURES.values() for c in sig})
    assert set(suggest_personas(z).values()) == {"default"}


def test_labels_file_overrides_suggestions(planted):
    features, _ = planted
    result = train(
        features,
        "kmeans",
        5,
        random_state=0,
        labels_override={"seg-02": "tech_enthusiast", "seg-99": "default"},
    )
    personas = {s["id"]: s["persona"] for s in result.meta["segments"]}
    assert personas["seg-02"] == "tech_enthusiast"
    assert set(result.assignments.loc[result.assignments.segment == "seg-02", "persona"]) == {
        "tech_enthusiast"
    }


@pytest.mark.parametrize(
    "algorithm, cov",
    [
        ("kmeans", "full"),
        ("ward", "full"),
        ("gmm", "full"),
        ("gmm", "tied"),
        ("gmm", "diag"),
        ("gmm", "spherical"),
    ],
)
def test_compiled_assigner_matches_the_fitted_pipeline(planted, algorithm, cov):
    features, _ = planted
    pre = make_preprocessor().fit(as_frame(features))
    X = pre.transform(as_frame(features))
    model = SegmentModel(algorithm, 5, covariance_type=cov, random_state=0).fit(X)
    spec = {
        "preprocess": compile_preprocessor(pre),
        "model": model_spec(model),
        "segments": [f"s{i}" for i in range(model.n_clusters_)],
    }
    assigner = SegmentAssigner(spec)
    rows = features.head(300).to_dict("records")
    assert np.allclose(np.vstack([assigner.transform(r) for r in rows]), X[:300])
    assert (assigner.predict_vectors(X) == model.predict(X)).all()
    assert assigner.predict_one(rows[0]) == f"s{model.predict(X[:1])[0]}"


def test_assigner_survives_missing_and_odd_values(planted):
    features, _ = planted
    result = train(features, "kmeans", 5, random_state=0)
    assigner = SegmentAssigner(result.spec)
    assert assigner.predict_one({}) in result.spec["segments"]
    assert (
        assigner.predict_one({"monetary": "lots", "region": "Mars", "frequency": -4})
        in result.spec["segments"]
    )
