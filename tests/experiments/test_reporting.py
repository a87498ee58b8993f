"""The experiments report against a real Redis, with data written in the action server's schema."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from experiments.config import load_experiments
from experiments.reporting import policy_values, report, to_html, to_text

ROOT = Path(__file__).resolve().parents[2]
SPEC = """experiments:
  - key: reco
    response: recommend
    variants: {base: 0.5, savings: 0.5}
    conversion: {feedback: positive}
    guardrails: [negative_feedback_rate, feedback_rate]
  - key: quiet
    response: recommend
    variants: {base: 0.5, savings: 0.5}
    conversion: {intent: affirm}
"""


@pytest.fixture
def specs(tmp_path):
    path = tmp_path / "experiments.yml"
    path.write_text(SPEC)
    return load_experiments(path)


def seed(client, ns, base=(1000, 100), savings=(1000, 130)):
    exposed, conv = {}, {}
    for name, (users, conversions) in (("base", base), ("savings", savings)):
        for i in range(users):
            exposed[f"{name}_{i}"] = name
            if i < conversions:
                conv[f"{name}_{i}"] = "1700000000"
    exposed["ghost"] = "<script>evil</script>"  # an unknown variant
    conv["never_exposed"] = "1700000000"
    client.hset(f"{ns}:exp:reco:exposed", mapping=exposed)
    client.hset(f"{ns}:exp:reco:conv", mapping=conv)
    for variant, downs, total in (("base", 4, 10), ("savings", 1, 5)):
        for i in range(total):
            client.xadd(
                f"{ns}:feedback",
                {
                    "experiments": json.dumps({"reco": variant}),
                    "rating": "down" if i < downs else "up",
                    "user": f"{variant}_{i}",
                },
            )
    client.xadd(f"{ns}:feedback", {"experiments": "not json", "rating": "down"})


def test_per_variant_numbers_guardrails_and_srm(client, ns, specs):
    seed(client, ns)
    data = report(client, ns, specs)
    reco, quiet = data["experiments"]
    base, savings = reco.variants
    assert (base.users, base.conversions, savings.users, savings.conversions) == (
        1000,
        100,
        1000,
        130,
    )
    assert savings.rate == pytest.approx(0.13) and savings.lift == pytest.approx(0.3)
    assert savings.p_value == pytest.approx(0.0355, abs=5e-4)
    assert 0.95 < savings.chance_to_beat_control < 1
    assert (round(base.ci_low, 4), round(base.ci_high, 4)) == (0.0829, 0.1202)
    assert base.guardrails == {"negative_feedback_rate": 0.4, "feedback_rate": 0.01}
    assert savings.guardrails == {"negative_feedback_rate": 0.2, "feedback_rate": 0.005}
    assert reco.unknown_users == 1 and not reco.srm_flag
    assert quiet.users == 0 and "no exposures yet" in to_text(data)


def test_a_skewed_split_is_flagged(client, ns, specs):
    seed(client, ns, base=(1100, 100), savings=(900, 100))
    reco = report(client, ns, specs)["experiments"][0]
    assert reco.srm_flag and reco.srm_p < 0.001
    assert "MISMATCH" in to_text(report(client, ns, specs))


def test_html_has_charts_numbers_and_escapes_what_redis_says(client, ns, specs):
    seed(client, ns)
    client.xadd(
        f"{ns}:decisions",
        {
            "id": "d1",
            "variant": "<img src=x>",
            "persona": "p",
            "response": "recommend",
            "arm": "a",
            "arms": "a,b",
            "propensity": "0.5",
        },
    )
    client.hset(f"{ns}:dec:d1", "reward", "1")
    page = to_html(report(client, ns, specs))
    assert page.count("<svg") >= 3 and "13.0%" in page and "30.0%" in page
    assert "<img src=x>" not in page and "&lt;img src=x&gt;" in page
    assert "<script>evil" not in page


def test_offline_estimates_from_rated_decisions(client, ns):
    rows = [("a", 1), ("a", 0), ("b", 1), ("b", 1), ("b", None)]  # the last is unrated
    for i, (arm, reward) in enumerate(rows):
        client.xadd(
            f"{ns}:decisions",
            {
                "id": f"d{i}",
                "response": "recommend",
                "variant": "v",
                "persona": "p",
                "arm": arm,
                "arms": "a,b",
                "propensity": "0.5",
            },
        )
        if reward is not None:
            client.hset(f"{ns}:dec:d{i}", "reward", str(reward))
    client.xadd(f"{ns}:decisions", {"id": "junk", "propensity": "lots", "arms": "a,b"})
    (value,) = policy_values(client, ns)
    assert value.decisions == 4 and value.logged == 0.75
    assert value.estimates["always b"] == {"ips": 1.0, "snips": 1.0}
    assert value.estimates["always a"] == {"ips": 0.5, "snips": 0.5}
    assert value.estimates["uniform"]["ips"] == pytest.approx(0.75)


def test_cli_end_to_end_with_simulated_traffic(redis_url, ns, cli, tmp_path):
    experiments = tmp_path / "experiments.yml"
    experiments.write_text(SPEC)
    common = ["--redis-url", redis_url, "--namespace", ns, "--experiments", str(experiments)]
    simulated = cli("simulate-traffic", "--users", "3000", *common)
    assert simulated.returncode == 0, simulated.stderr
    out, js = tmp_path / "r.html", tmp_path / "r.json"
    result = cli("report", *common, "--out", str(out), "--json", str(js))
    assert result.returncode == 0, result.stderr
    data = json.loads(js.read_text())
    base, savings = data["experiments"][0]["variants"]
    assert base["users"] + savings["users"] == 3000
    assert savings["rate"] > base["rate"]  # simulated: savings converts 3 points better
    assert data["policies"] and "<svg" in out.read_text()
    assert "sample ratio" in result.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--redis-url", "redis://127.0.0.1:9/0"], "cannot read Redis"),
        (["--experiments", "/nonexistent.yml"], "cannot read"),
    ],
)
def test_cli_bad_input_is_one_line_and_non_zero(args, message, cli, tmp_path):
    result = cli("report", "--out", str(tmp_path / "x.html"), *args)
    assert (
        result.returncode == 2 and result.stderr.startswith("Error:") and message in result.stderr
    )
    assert "Traceback" not in result.stderr


def test_nan_is_shown_as_not_available():
    from experiments.reporting import _fmt

    assert _fmt(math.nan) == "n/a" and _fmt(0.1234, True) == "12.3%"


@pytest.mark.parametrize(
    "experiments",
    [json.dumps({"reco": ["base"]}), json.dumps({"reco": {"v": "base"}}), json.dumps(["reco"])],
)
def test_feedback_naming_a_variant_oddly_is_ignored_not_a_crash(client, ns, specs, experiments):
    seed(client, ns)
    client.xadd(f"{ns}:feedback", {"experiments": experiments, "rating": "down"})
    base = report(client, ns, specs)["experiments"][0].variants[0]
    assert base.guardrails["negative_feedback_rate"] == 0.4  # as without the odd entry


@pytest.mark.parametrize("reward", ["7", "-1", "0.5", "nan", "yes"])
def test_rewards_other_than_0_or_1_are_left_out(client, ns, reward):
    for i, value in enumerate(["1", reward]):
        client.xadd(
            f"{ns}:decisions",
            {"id": f"d{i}", "response": "r", "variant": "v", "persona": "p", "arm": "a"}
            | {"arms": "a,b", "propensity": "0.5"},
        )
        client.hset(f"{ns}:dec:d{i}", "reward", value)
    (value,) = policy_values(client, ns)
    assert value.decisions == 1 and value.logged == 1.0


def test_exposures_all_under_unknown_variants_are_reported(client, ns, specs):
    client.hset(f"{ns}:exp:quiet:exposed", mapping={"u1": "renamed", "u2": "renamed"})
    text = to_text(report(client, ns, specs))
    assert "no exposures yet\n  2 exposures name unknown variants" in text
