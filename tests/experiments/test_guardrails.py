"""Guardrails per variant (satisfaction, messages per session, 7-day return, feedback) and
purchases as the conversion, from data written by the project's own stores into a real Redis,
against values computed by hand."""

from __future__ import annotations

import json
import math

import pytest
import redis.asyncio as aioredis

from experiments.config import ExperimentConfigError, load_experiments
from experiments.decisions import Decision, DecisionStore
from experiments.exposures import ExposureStore
from experiments.policy import ArmChooser
from experiments.reporting import report, to_html, to_text
from experiments.surveys import SurveyStore

T0 = 1_796_000_000.0
DAY = 86400.0
GUARDS = "[negative_feedback_rate, feedback_rate, satisfaction, messages_per_session, return_7d]"
# The same experiment twice, with weights that force one variant, so who sees what is planted.
FORCED = """experiments:
  - key: reco
    response: recommend
    variants: {base: %s, savings: %s}
    conversion: {purchase: any}
    guardrails: %s
  - key: chat
    response: recommend
    variants: {base: %s, savings: %s}
    conversion: {intent: affirm}
"""


def specs(tmp_path, base: float, name: str = "e.yml"):
    path = tmp_path / name
    path.write_text(FORCED % (base, 1 - base, GUARDS, base, 1 - base))
    return load_experiments(path)


@pytest.fixture
async def aclient(redis_url):
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.close()


async def plant(aclient, ns, tmp_path) -> None:
    """base: b1-b4, savings: s1-s2, all first exposed at T0 (one session each)."""
    exposures, decisions = ExposureStore(aclient, ns), DecisionStore(aclient, ns)
    surveys = SurveyStore(aclient, ns)
    for users, base in ((("b1", "b2", "b3", "b4"), 1.0), (("s1", "s2"), 0.0)):
        forced = specs(tmp_path, base, f"{base}.yml")
        for user in users:
            assert await exposures.expose(forced["reco"], user, "default", now=T0)
            assert await exposures.expose(forced["chat"], user, "default", now=T0)
    # Later sessions: b1 after 1 and 2 days (one return), b2 after 8 days (too late to be a
    # return), s1 after 3 days (a return).
    for user, after in (("b1", DAY), ("b1", 2 * DAY), ("b2", 8 * DAY), ("s1", 3 * DAY)):
        await exposures.session_started(user, ["reco"], now=T0 + after)
    for _ in range(14):
        await exposures.messages({"reco": "base"})
    for _ in range(9):
        await exposures.messages({"reco": "savings"})
    scores = (("b1", "base", 5), ("b2", "base", 4), ("b3", "base", 3), ("s1", "savings", 2))
    for user, variant, score in scores:
        arms = ("base", "savings")
        decision = Decision(
            user, "default", "recommend", "v", variant, "experiment", 0.5, arms, {"reco": variant}
        )
        await decisions.record(decision)
        assert await surveys.score(decision.id, user, score, "segment-3") == "stored"
        await decisions.feedback(decision.id, user, "down" if score < 5 else "up")
    assert await surveys.comment(decision.id, "s1", "fine", "segment-3") == "stored"  # no score
    # Garbage a bug or a hand edit could leave: never counted.
    await aclient.xadd(
        f"{ns}:surveys",
        {"experiments": json.dumps({"reco": "base"}), "kind": "score", "satisfaction": "9"},
    )
    await aclient.xadd(
        f"{ns}:surveys",
        {"experiments": json.dumps({"reco": ["base"]}), "kind": "score", "satisfaction": "1"},
    )


async def test_guardrails_per_variant_match_a_hand_computation(aclient, client, ns, tmp_path):
    await plant(aclient, ns, tmp_path)

    data = report(client, ns, specs(tmp_path, 0.5))

    reco = data["experiments"][0]
    base, savings = reco.variants
    assert (base.users, savings.users) == (4, 2)
    # sessions: base 4 exposures + 3 later starts = 7, savings 2 + 1 = 3; messages 14 and 9
    assert base.guardrails == {
        "negative_feedback_rate": 2 / 3,  # thumbs down on the 4 and the 3, up on the 5
        "feedback_rate": 3 / 4,
        "satisfaction": 4.0,  # (5 + 4 + 3) / 3; the 9 and the list-valued entry are left out
        "satisfaction_responses": 3,
        "messages_per_session": 2.0,  # 14 / 7
        "return_7d": 0.25,  # b1 only: b2 came back after 8 days
    }
    assert savings.guardrails == {
        "negative_feedback_rate": 1.0,
        "feedback_rate": 0.5,
        "satisfaction": 2.0,  # the comment entry is no second score
        "satisfaction_responses": 1,
        "messages_per_session": 3.0,  # 9 / 3
        "return_7d": 0.5,
    }
    assert data["experiments"][1].variants[0].guardrails == {}  # "chat" names none
    text = to_text(data)
    assert "satisfaction 4.00, satisfaction_responses 3, messages_per_session 2.00" in text
    assert "return_7d 25.0%" in text and "return_7d 50.0%" in text
    assert "satisfaction: 2.00" in to_html(data)


async def test_no_answers_yet_is_not_a_number_not_zero(client, ns, tmp_path):
    client.hset(f"{ns}:exp:reco:exposed", mapping={"b1": "base"})
    data = report(client, ns, specs(tmp_path, 0.5))
    base, savings = data["experiments"][0].variants
    assert math.isnan(base.guardrails["satisfaction"])
    assert base.guardrails["satisfaction_responses"] == 0
    assert math.isnan(base.guardrails["messages_per_session"])
    assert base.guardrails["return_7d"] == 0.0 and math.isnan(savings.guardrails["return_7d"])
    assert "satisfaction n/a, satisfaction_responses 0" in to_text(data)


async def test_purchases_are_the_conversion_where_the_experiment_names_them(
    aclient, client, ns, tmp_path
):
    """A purchase after a recommendation converts "reco" (conversion {purchase: any}) and not
    "chat" (an intent), once per user, and only for the exposed user's variant."""
    exposures, decisions = ExposureStore(aclient, ns), DecisionStore(aclient, ns)
    chooser = ArmChooser(decisions, exposures, specs(tmp_path, 0.5))
    for user, base in (("b1", 1.0), ("b2", 1.0), ("s1", 0.0)):
        forced = specs(tmp_path, base, f"{user}.yml")
        for spec in forced.values():
            await exposures.expose(spec, user, "default", now=T0)
        arms = ("base", "savings")
        decision = Decision(user, "default", "recommend", "v", "x", "experiment", 0.5, arms, ts=T0)
        await decisions.record(decision)
    for user, event in (("b1", "e1"), ("b1", "e2"), ("s1", "e3")):  # b1 buys twice
        await chooser.attribute(user, "purchase", T0 + 100, 3600, event)
    await chooser.attribute("b2", "purchase", T0 + 7200, 3600, "e4")  # outside the window

    reco, chat = report(client, ns, specs(tmp_path, 0.5))["experiments"]

    assert [(v.users, v.conversions) for v in reco.variants] == [(2, 1), (1, 1)]
    assert [v.conversions for v in chat.variants] == [0, 0]
    assert reco.conversion == {"purchase": "any"}


def test_an_unknown_guardrail_is_one_line_naming_the_known_ones(tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text(
        "experiments:\n  - key: k\n    variants: {a: 0.5, b: 0.5}\n"
        "    conversion: {purchase: any}\n    guardrails: [happiness]\n"
    )
    known = "satisfaction, messages_per_session, return_7d"
    with pytest.raises(ExperimentConfigError, match=f"unknown guardrails happiness; use .*{known}"):
        load_experiments(path)
