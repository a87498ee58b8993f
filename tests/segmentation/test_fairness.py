"""`segment audit`: groups compared on planted data, ratios by hand, the real answers, region's
influence, bad input, and a strict retrain that refuses to publish."""

from __future__ import annotations

import json
import math
import uuid
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

import numpy as np
import pandas as pd
import pytest
import redis
from scipy import stats

from core.categories import CATEGORIES
from core.personas import DEFAULT
from core.pseudonyms import pseudonym
from core.settings import Settings
from core.traits import PRESETS, listed_traits
from privacy.keyring import service_pseudonym_key
from responses.cues import Cues
from segmentation.assign import SegmentAssigner
from segmentation.cli import main
from segmentation.fairness import read_audit, segment_exposure
from segmentation.fairness_report import markdown
from segmentation.features import FEATURE_COLUMNS
from segmentation.region_influence import model_vectors
from segmentation.report import build_report
from tests.conftest import shipped_engine

KEY = "0a0EWOzkOEuyvg7-AhPNMDmzHmbp4ACs5wb5b4TGiuA"  # PZ_PSEUDONYM_KEY for these tests
AS_OF = "2026-10-01"
EVENT_COLUMNS = ["user_id", "timestamp", "session", "intent", "entities", "text_length"]
EVENT_COLUMNS += ["text", "channel", "timezone", "device", "region"]
# Two planted behaviours: deal-seeking small baskets, and spec-reading big ones.
BEHAVIOUR = {
    "A": {"avg_order_value": 30.0, "frequency": 5.0, "share_deals": 0.7, "share_specs": 0.05},
    "B": {"avg_order_value": 900.0, "frequency": 3.0, "share_deals": 0.05, "share_specs": 0.7},
}


@dataclass(frozen=True)
class Shopper:
    crm_id: str
    behaviour: str  # A or B
    gender: str
    region: str = "DE"
    device: str = "desktop"
    channel: str = "rest"
    converted: bool = False  # bought after AS_OF


@pytest.fixture
def key(monkeypatch) -> bytes:
    monkeypatch.setenv("PZ_PSEUDONYM_KEY", KEY)
    return service_pseudonym_key(Settings.from_env())


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def features_row(shopper: Shopper, key: bytes, noise: float, region_only: bool) -> dict:
    row = {c: 0.0 for c in FEATURE_COLUMNS}
    row.update(
        recency_days=10.0,
        tenure_days=300.0,
        has_purchases=1.0,
        sessions=4.0,
        messages_per_session=3.0,
        session_duration_s=60.0,
        share_recommendations=0.2,
        share_afternoon=1.0,
        share_web=1.0,
        has_conversations=1.0,
        region=shopper.region,
    )
    if not region_only:
        row.update(BEHAVIOUR[shopper.behaviour])
        row["share_deals"] += noise
    row["monetary"] = row["avg_order_value"] * row["frequency"]
    return {"user_id": pseudonym(shopper.crm_id, key), **row}


def write_dataset(tmp: Path, shoppers: list[Shopper], key: bytes, region_only=False) -> dict:
    """features.parquet (ids already pseudonyms, as `segment features` writes them), the CRM
    export tx.csv (raw ids, a gender column, purchases after AS_OF for the converted) and a
    `segment export` events.csv (raw ids)."""
    noise = np.random.default_rng(0).normal(0, 0.01, len(shoppers))
    features = pd.DataFrame(
        [features_row(s, key, n, region_only) for s, n in zip(shoppers, noise, strict=True)]
    )
    features.to_parquet(tmp / "features.parquet", index=False)
    tx = [[s.crm_id, "2026-09-01", "20.00", "headphones", s.gender] for s in shoppers]
    tx += [
        [s.crm_id, "2026-10-05", "20.00", "headphones", s.gender] for s in shoppers if s.converted
    ]
    pd.DataFrame(tx, columns=["user_id", "timestamp", "amount", "category", "gender"]).to_csv(
        tmp / "tx.csv", index=False
    )
    events = [
        [s.crm_id, 1.79e9, 0, "greet", "[]", 2, "hi", s.channel, "", s.device, s.region]
        for s in shoppers
    ]
    events_path = tmp / "events.csv"
    pd.DataFrame(events, columns=EVENT_COLUMNS).to_csv(events_path, index=False)
    return {
        "features": tmp / "features.parquet",
        "tx": tmp / "tx.csv",
        "events": tmp / "events.csv",
    }


def shoppers(cells: list[tuple[str, str, int, int]], **common) -> list[Shopper]:
    """cells: (behaviour, gender, users, of whom converted); region and device alternate."""
    out = []
    for behaviour, gender, users, converted in cells:
        for i in range(users):
            out.append(
                Shopper(
                    f"c{len(out):03d}",
                    behaviour,
                    gender,
                    region=("DE", "FR")[i % 2],
                    device=("desktop", "mobile")[i // 2 % 2],
                    converted=i < converted,
                    **common,
                )
            )
    return out


def train(capsys, files: dict, tmp: Path) -> Path:
    model = tmp / "model"
    argv = ["train", files["features"], "--algorithm", "kmeans", "--k", "2", "-o", model]
    assert run(capsys, *argv)[0] == 0
    return model


def audit_argv(files: dict, model: Path, *extra) -> list:
    return [
        "audit",
        files["features"],
        model,
        "--transactions",
        files["tx"],
        "--events",
        files["events"],
        "--sensitive-col",
        "gender",
        *extra,
    ]


def dimension(audit: dict, name: str) -> dict:
    return next(d for d in audit["dimensions"] if d["name"] == name)


def ratio(d: dict, metric: str, segment: str | None = None) -> dict:
    return next(r for r in d["ratios"] if r["metric"] == metric and r.get("segment") == segment)


# Gender F: 30 deal seekers and 10 spec readers, 10 converted; M: the other way, 20 converted.
SKEWED = [("A", "F", 30, 5), ("B", "F", 10, 5), ("A", "M", 10, 10), ("B", "M", 30, 10)]
# Every group alike: the same mix of behaviours and the same conversion.
EVEN = [("A", "F", 20, 4), ("B", "F", 20, 4), ("A", "M", 20, 4), ("B", "M", 20, 4)]


@pytest.fixture
def skewed(tmp_path, capsys, key) -> tuple[dict, Path]:
    files = write_dataset(tmp_path, shoppers(SKEWED), key)
    return files, train(capsys, files, tmp_path)


def test_a_planted_disparity_is_flagged_with_ratios_by_hand(skewed, capsys, key, tmp_path):
    files, model = skewed
    argv = audit_argv(files, model, "--as-of", AS_OF, "-o", tmp_path / "copy.json")
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    audit = json.loads((model / "fairness.json").read_text())
    assert json.loads((tmp_path / "copy.json").read_text()) == audit
    assignments = pd.read_csv(model / "assignments.csv").set_index("user_id")["segment"]
    seg_a = assignments[pseudonym("c000", key)]  # a deal seeker
    seg_b = assignments[pseudonym("c039", key)]  # a spec reader
    assert seg_a != seg_b and audit["users"] == 80

    gender = dimension(audit, "gender")
    f, m = (next(g for g in gender["groups"] if g["name"] == n) for n in ("F", "M"))
    assert (f["users"], m["users"]) == (40, 40) and gender["sensitive"]
    assert f["membership"] == {seg_a: 0.75, seg_b: 0.25}
    assert m["membership"] == {seg_a: 0.25, seg_b: 0.75}
    membership = ratio(gender, "membership", seg_a)
    assert membership["ratio"] == pytest.approx(0.25 / 0.75, abs=1e-4)
    assert (membership["min_group"], membership["max_group"], membership["flagged"]) == (
        "M",
        "F",
        True,
    )
    conversion = ratio(gender, "conversion")  # F 10/40, M 20/40 bought after the snapshot
    assert (f["conversion"], m["conversion"], conversion["ratio"]) == (0.25, 0.5, 0.5)
    assert conversion["flagged"] and "after" in audit["conversion"]["metric"]
    # p-values between the two groups, by hand: pooled two-proportion z-tests.
    z_membership = 0.5 / math.sqrt(0.5 * 0.5 * (2 / 40))  # 30/40 vs 10/40, pooled 0.5
    z_conversion = 0.25 / math.sqrt(0.375 * 0.625 * (2 / 40))  # 10/40 vs 20/40, pooled 0.375
    for entry, z in ((membership, z_membership), (conversion, z_conversion)):
        assert entry["p_value"] == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-2)
    assert 0.01 < conversion["p_value"] < 0.05

    segments = {s["id"]: s for s in audit["segments"]}
    assert segments[seg_a]["discount_pct"] > segments[seg_b]["discount_pct"]
    assert segments[seg_a]["price_level"] < segments[seg_b]["price_level"]
    for metric in ("price_level", "discount_pct", "deal_share"):
        a, b = segments[seg_a][metric], segments[seg_b][metric]
        by_hand = {"F": 0.75 * a + 0.25 * b, "M": 0.25 * a + 0.75 * b}
        assert (f[metric], m[metric]) == pytest.approx((by_hand["F"], by_hand["M"]), abs=1e-4)
        expected = min(by_hand.values()) / max(by_hand.values())
        assert ratio(gender, metric)["ratio"] == pytest.approx(expected, abs=1e-4)
        assert ratio(gender, metric)["flagged"] == (expected < 0.8)
        # Welch's t-test on the shoppers' own values (each sees their segment's figure)
        per_f, per_m = [a] * 30 + [b] * 10, [a] * 10 + [b] * 30
        welch = stats.ttest_ind(per_f, per_m, equal_var=False).pvalue
        assert ratio(gender, metric)["p_value"] == pytest.approx(welch, rel=1e-2)
    # Region, device and channel are balanced within each behaviour: nothing flagged there.
    for name in ("region", "device"):
        assert not any(r["flagged"] for r in dimension(audit, name)["ratios"]), name
    assert dimension(audit, "channel")["note"].startswith("fewer than two groups")
    assert audit["flagged"] and {f["dimension"] for f in audit["flags"]} == {"gender"}
    assert audit["region_influence"]["changed_users"] == 0
    # The table on stdout; the model card's Markdown from the same dict.
    assert "gender (CRM export (tx.csv), audit only):" in out and "FLAGGED" in out
    card = markdown(audit)
    assert "### gender (CRM export (tx.csv), audit only)" in card
    assert f"| membership {seg_a} | 0.333 (M 25.0% / F 75.0%) | 7.7e-06 | FLAGGED |" in card
    surprising = sum(1 for f in audit["flags"] if f["p_value"] is not None and f["p_value"] < 0.05)
    assert surprising >= 3  # both memberships and the conversion
    assert f"flagged, {surprising} of them with p under 0.05 between their two groups" in card


def test_strict_exits_4_and_the_report_has_a_fairness_page(skewed, capsys, tmp_path):
    files, model = skewed
    code, _, err = run(capsys, *audit_argv(files, model, "--strict", "-o", tmp_path / "a.html"))
    assert code == 4
    assert err.strip().splitlines()[-1].startswith("Error: fairness audit flagged ")
    assert (model / "fairness.json").exists() and "FLAGGED" in (tmp_path / "a.html").read_text()
    audit = read_audit(model)
    meta = {**json.loads((model / "model.json").read_text()), "fairness": audit}
    labels = pd.read_csv(model / "assignments.csv")["segment"].to_numpy()[:8]  # no t-SNE
    X = np.random.default_rng(0).normal(size=(8, 3))
    path = build_report(X, ["a", "b", "c"], labels, meta, {}, tmp_path / "r.html", sample_size=8)
    page = path.read_text()
    assert '<a href="#fairness">' in page and 'id="fairness"' in page
    assert "gender (CRM export (tx.csv), audit only)" in page and "FLAGGED" in page


def test_no_disparity_nothing_flagged_and_strict_passes(tmp_path, capsys, key):
    files = write_dataset(tmp_path, shoppers(EVEN), key)
    model = train(capsys, files, tmp_path)
    code, out, err = run(capsys, *audit_argv(files, model, "--strict", "--as-of", AS_OF))
    assert code == 0, err
    audit = json.loads((model / "fairness.json").read_text())
    assert not audit["flagged"] and audit["flags"] == []
    for name in ("gender", "region", "device"):
        assert {r["ratio"] for r in dimension(audit, name)["ratios"]} == {1.0}, name
    assert "FLAGGED" not in out and "no disparity ratio below 0.8" in out


def test_region_influence_when_region_drives_the_clustering(tmp_path, capsys, key):
    files = write_dataset(tmp_path, shoppers(EVEN), key, region_only=True)
    model = train(capsys, files, tmp_path)
    assert run(capsys, "audit", files["features"], model)[0] == 0
    influence = json.loads((model / "fairness.json").read_text())["region_influence"]
    # Behaviour is the same for all: the two segments are DE and FR, and with every user's
    # region set to the same mix all of them land in one segment, so half of them move.
    assert influence["changed_share"] == 0.5 and influence["changed_users"] == 40
    assert influence["between_segment_share"] == 1.0
    assert influence["region_columns"] == ["region=DE", "region=FR"]


def test_model_vectors_match_the_assigner(skewed):
    files, model = skewed
    assigner = SegmentAssigner(json.loads((model / "assigner.json").read_text()))
    features = pd.read_parquet(files["features"]).head(10)
    features.loc[0, "region"] = "XX"  # unknown at prediction time: all-zero one-hot
    features.loc[1, "recency_days"] = np.nan
    expected = assigner.transform_many(features.to_dict("records"))
    assert np.allclose(model_vectors(assigner, features), expected)


def test_what_a_segment_is_shown_is_what_the_engine_lists(skewed):
    """The audit's figures equal those of the response engine's own recommend answers."""
    engine = shipped_engine()
    meta = json.loads((skewed[1] / "model.json").read_text())
    listed = meta["segments"] + [{"id": p, "persona": p} for p in PRESETS if p != DEFAULT]
    exposure = segment_exposure(listed, engine.products)
    for entry in listed:
        persona, traits, _ = listed_traits(entry)
        answers = []
        for category in CATEGORIES:
            cues = engine.cues_with_facts(Cues(persona=persona, traits=traits), category)
            answers.append(engine.render("recommend", cues).products)
        shown = [p for answer in answers for p in answer]
        figures = exposure[entry["id"]]
        assert figures["price_level"] == round(fmean(p.deal_price for p in shown), 2)
        assert figures["discount_pct"] == round(fmean(p.discount_pct for p in shown), 2)
        assert figures["deal_share"] == fmean(any(p.on_deal for p in a) for a in answers)
    lengths = {exposure[p]["products_per_answer"] for p in PRESETS if p != DEFAULT}
    assert len(lengths) > 1  # lists of different lengths were compared


def test_sensitive_columns_never_reach_the_features(tmp_path, capsys, key):
    files = write_dataset(tmp_path, shoppers(SKEWED), key)
    tx = pd.read_csv(files["tx"])
    tx.drop(columns="gender").to_csv(tmp_path / "plain.csv", index=False)
    built = {}
    for name in ("tx.csv", "plain.csv"):
        out = tmp_path / f"features-{name}.parquet"
        argv = ["features", "--transactions", tmp_path / name, "--events", files["events"]]
        assert run(capsys, *argv, "-o", out)[0] == 0
        built[name] = pd.read_parquet(out)
    assert "gender" not in built["tx.csv"].columns
    assert not built["tx.csv"].isin(["F", "M"]).any().any()
    pd.testing.assert_frame_equal(built["tx.csv"], built["plain.csv"])


def _one_line_error(capsys, argv, model: Path, expected: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 1, err
    assert err.startswith("Error: ") and expected in err, err
    assert err.count("\n") == 1 and out == ""
    assert not (model / "fairness.json").exists()


def test_bad_input_one_line_exit_1_nothing_written(skewed, capsys, tmp_path):
    files, model = skewed
    tx = pd.read_csv(files["tx"])
    tx.assign(gender="F").to_csv(tmp_path / "one.csv", index=False)
    one = {**files, "tx": tmp_path / "one.csv"}
    _one_line_error(
        capsys, audit_argv(one, model), model, "sensitive column 'gender' has one value ('F')"
    )
    tx.loc[tx["user_id"] == "c000", "gender"] = "X"
    tx.to_csv(tmp_path / "single.csv", index=False)
    single = {**files, "tx": tmp_path / "single.csv"}
    _one_line_error(
        capsys, audit_argv(single, model), model, "group 'X' of gender has a single shopper"
    )
    for threshold in ("0", "1.5", "-0.2", "nan"):
        argv = audit_argv(files, model, "--threshold", threshold)
        expected = f"threshold {float(threshold)} is outside (0, 1]"
        _one_line_error(capsys, argv, model, expected)
    argv = audit_argv(files, model, "--sensitive-col", "age_band")
    _one_line_error(capsys, argv, model, "sensitive column 'age_band' not found")
    _one_line_error(capsys, audit_argv(files, model, "--min-group-size", "1"), model, "2 or more")

    # Small groups may be left out on purpose; they are listed, not compared.
    code, _, _ = run(capsys, *audit_argv(single, model, "--min-group-size", "2"))
    gender = dimension(json.loads((model / "fairness.json").read_text()), "gender")
    assert code == 0 and gender["skipped"] == [{"name": "X", "users": 1}]
    assert [g["name"] for g in gender["groups"]] == ["M", "F"]  # by size (40 vs 39)


@pytest.fixture
def namespace(redis_url):
    ns = f"fair{uuid.uuid4().hex[:8]}"
    yield ns
    client = redis.Redis.from_url(redis_url)
    for k in client.scan_iter(match=f"{ns}:*"):
        client.unlink(k)


def test_a_strict_retrain_refuses_to_publish(tmp_path, capsys, redis_url, namespace, key):
    demo = tmp_path / "demo"
    assert run(capsys, "demo-data", "--users", "400", "--random-state", "3", "-o", demo)[0] == 0
    truth = pd.read_csv(demo / "planted_personas.csv").set_index("user_id")["persona"]
    tx = pd.read_csv(demo / "transactions.csv")
    tx["gender"] = np.where(tx["user_id"].map(truth) == "bargain_hunter", "F", "M")
    tx.to_csv(tmp_path / "tx.csv", index=False)
    work = tmp_path / "work"
    argv = ["retrain", "--events", demo / "events.parquet", "--transactions", tmp_path / "tx.csv"]
    argv += ["--workdir", work, "--k-max", "4", "--algorithms", "kmeans", "--report-sample"]
    argv += ["8", "--redis-url", redis_url, "--namespace", namespace, "--sensitive-col"]
    code, out, err = run(capsys, *argv, "gender", "--strict-audit")
    assert code == 4, err
    assert err.strip().splitlines()[-1].startswith("Error: fairness audit flagged ")
    assert "not published (--strict-audit)" in err and out == ""
    assert not list(redis.Redis.from_url(redis_url).scan_iter(match=f"{namespace}:*"))
    assert not (work / "latest").exists()
    (run_dir,) = [p for p in work.iterdir()]
    audit = json.loads((run_dir / "model" / "fairness.json").read_text())
    assert any(f["dimension"] == "gender" for f in audit["flags"])
    page = (run_dir / "report.html").read_text()  # the report reads fairness.json
    assert 'id="fairness"' in page and "gender (CRM export (tx.csv), audit only)" in page
    # A threshold outside (0, 1] is refused before anything is trained.
    code, _, err = run(capsys, *argv, "gender", "--audit-threshold", "2")
    assert code == 1 and "outside (0, 1]" in err and len(list(work.iterdir())) == 1


def test_the_extreme_pair_p_value_is_adjusted_for_the_number_of_pairs():
    from segmentation.disparity_stats import bonferroni

    assert bonferroni(0.01, 2) == 0.01  # two groups: one pair
    assert bonferroni(0.01, 5) == pytest.approx(0.1)  # five regions: ten pairs
    assert bonferroni(0.3, 5) == 1.0 and bonferroni(None, 3) is None
