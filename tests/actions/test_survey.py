"""The post-conversation survey through the real actions, rasa-sdk's form validation and a
real Redis: asked once at goodbye after a recommendation and with consent, the score and
comment stored per decision, segment and arm, bad input answered, erasure removing it."""

from __future__ import annotations

import numpy as np
import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.session import ActionSessionStart
from actions.small_talk import ActionGoodbye
from actions.survey import ActionRecordSurvey, ValidateSurveyForm
from experiments.config import load_experiments
from experiments.decisions import DecisionStore
from experiments.exposures import ExposureStore, engagement_key, returns_key
from experiments.policy import ArmChooser, BanditSettings
from experiments.surveys import MAX_COMMENT_CHARS
from privacy.consent import DENIED, GRANTED, record_consent
from privacy.erasure import Eraser
from tests.actions.test_feedback import recommend
from tests.conftest import FIXTURE_USER, services, tracker_from_fixture

EXPERIMENT = """experiments:
  - key: reco-intro
    response: recommend
    variants: {base: 0.5, savings: 0.5}
    personas: [bargain_hunter]
    conversion: {feedback: positive}
"""
QUESTION = "Before you go: how satisfied are you"


@pytest.fixture
def chooser(store, tmp_path):
    path = tmp_path / "experiments.yml"
    path.write_text(EXPERIMENT)
    return ArmChooser(
        DecisionStore(store.client, store.namespace),
        ExposureStore(store.client, store.namespace),
        load_experiments(path),
        BanditSettings(),
        np.random.default_rng(0),
    )


def after(slots: dict, intent: str = "goodbye", entities=(), events=()) -> Tracker:
    """The conversation after the recommendation (`slots` as it left them)."""
    latest = {"text": intent, "intent": {"name": intent}, "entities": list(entities)}
    user = {"event": "user", "text": intent, "parse_data": latest}
    return tracker_from_fixture(
        "recommend_phones",
        slots=slots,
        latest_message=latest,
        events=[user, *events],
        active_loop={"name": "survey_form"} if intent != "goodbye" else {},
    )


async def run(action, tracker, domain):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain)
    return dispatcher.messages, {e["name"]: e["value"] for e in events if e["event"] == "slot"}


async def rate(store, chooser, domain, slots, score):
    """The score pressed: Rasa's slot extraction set it, then the form's validation runs."""
    slots = {**slots, "satisfaction": score}
    set_by_rasa = [{"event": "slot", "name": "satisfaction", "value": score}]
    tracker = after(slots, "survey_rate", [{"entity": "satisfaction", "value": score}], set_by_rasa)
    return await run(ValidateSurveyForm(services(store, chooser=chooser)), tracker, domain)


async def recommended(store, chooser, domain) -> dict:
    _, slots = await recommend(store, chooser, domain)
    return {**slots, "consent": GRANTED}


async def test_asked_once_at_goodbye_after_a_recommendation(store, chooser, domain):
    slots = await recommended(store, chooser, domain)
    goodbye = ActionGoodbye(services(store, chooser=chooser))

    messages, set_ = await run(goodbye, after(slots), domain)
    again, set_again = await run(goodbye, after({**slots, **set_}), domain)

    assert len(messages) == 2 and messages[1]["text"].startswith(QUESTION)
    assert [b["payload"] for b in messages[1]["buttons"]] == [
        *(f'/survey_rate{{"satisfaction": {n}}}' for n in range(1, 6)),
        "/survey_skip",
    ]
    assert set_["survey"] == "asked"
    assert len(again) == 1 and "survey" not in set_again  # the goodbye only, not asked twice


@pytest.mark.parametrize("missing", ["recommendation", "consent"])
async def test_not_asked_without_a_recommendation_or_consent(store, chooser, domain, missing):
    slots = await recommended(store, chooser, domain)
    if missing == "recommendation":
        slots["last_decision"] = None
    else:
        await record_consent(store.client, store.namespace, FIXTURE_USER, DENIED)
        slots["consent"] = DENIED
    goodbye = ActionGoodbye(services(store, chooser=chooser))

    messages, set_ = await run(goodbye, after(slots), domain)

    assert len(messages) == 1 and QUESTION not in messages[0]["text"]
    assert "survey" not in set_


async def test_score_and_comment_stored_per_decision_segment_and_arm(store, chooser, domain):
    slots = await recommended(store, chooser, domain)
    decision, arm = slots["last_decision"], slots["experiments"]["reco-intro"]
    asked = {**slots, "survey": "asked"}

    messages, set_ = await rate(store, chooser, domain, asked, 4)
    assert messages == [] and set_["survey"] == "rated" and set_["satisfaction"] == 4
    assert "requested_slot" not in set_  # Rasa's form asks for the comment next
    giant = "<script>alert(1)</script>\x00\n" + "é" * 20_000
    rated = {**asked, **set_, "survey_comment": giant}
    thanks, closed = await run(
        ActionRecordSurvey(services(store, chooser=chooser)), after(rated, "survey_rate"), domain
    )

    assert thanks[0]["text"] == "Thank you for your feedback!"
    assert closed["survey"] == "done" and closed["satisfaction"] is None
    record = await store.client.hgetall(f"{store.namespace}:dec:{decision}")
    assert record[b"satisfaction"] == b"4" and record[b"segment"] == b"bargain_hunter"
    comment = record[b"comment"].decode()
    assert len(comment) == MAX_COMMENT_CHARS and comment.startswith("<script>alert(1)</script> é")
    entries = [e for _, e in await store.client.xrange(f"{store.namespace}:surveys")]
    assert [(e[b"kind"], e[b"satisfaction"]) for e in entries] == [
        (b"score", b"4"),
        (b"comment", b"4"),
    ]
    first = entries[0]
    assert first[b"decision"].decode() == decision and first[b"arm"].decode() == arm
    assert first[b"experiments"].decode() == f'{{"reco-intro": "{arm}"}}'
    assert first[b"segment"] == b"bargain_hunter" and first[b"user"] == FIXTURE_USER.encode()


@pytest.mark.parametrize("score", [7, 0, "lots", True])
async def test_a_score_outside_1_to_5_is_asked_again_and_not_stored(store, chooser, domain, score):
    slots = {**await recommended(store, chooser, domain), "survey": "asked"}

    messages, set_ = await rate(store, chooser, domain, slots, score)

    assert messages[0]["text"].startswith("Please choose a score from 1")
    assert set_["satisfaction"] is None and set_["requested_slot"] == "satisfaction"
    assert await store.client.xlen(f"{store.namespace}:surveys") == 0


async def test_one_score_per_decision_and_none_without_consent(store, chooser, domain):
    slots = {**await recommended(store, chooser, domain), "survey": "asked"}
    _, first = await rate(store, chooser, domain, slots, 5)
    _, replayed = await rate(store, chooser, domain, slots, 1)  # the same button again
    await record_consent(store.client, store.namespace, FIXTURE_USER, DENIED)
    _, later = await recommend(store, chooser, domain)
    await record_consent(store.client, store.namespace, FIXTURE_USER, DENIED)  # withdrawn
    _, refused = await rate(store, chooser, domain, {**later, "survey": "asked"}, 3)

    assert first["survey"] == "rated" and replayed["survey"] == "done"
    assert refused["survey"] == "done" and refused["requested_slot"] is None
    entries = await store.client.xrange(f"{store.namespace}:surveys")
    assert [e[b"satisfaction"] for _, e in entries] == [b"5"]
    later_key = f"{store.namespace}:dec:{later['last_decision']}"
    assert not await store.client.hexists(later_key, "satisfaction")


async def test_a_score_with_no_survey_open_is_thanked_and_not_stored(store, chooser, domain):
    slots = await recommended(store, chooser, domain)  # no goodbye: nothing asked
    messages, set_ = await rate(store, chooser, domain, slots, 4)
    reply, _ = await run(
        ActionRecordSurvey(services(store, chooser=chooser)),
        after({**slots, **set_}, "survey_rate"),
        domain,
    )

    assert messages == [] and set_["requested_slot"] is None  # the form ends at once
    assert reply[0]["text"] == "There's no survey to answer right now, but thanks!"
    assert await store.client.xlen(f"{store.namespace}:surveys") == 0


async def test_skip_closes_the_survey_without_storing(store, chooser, domain):
    slots = {**await recommended(store, chooser, domain), "survey": "asked"}
    reply, set_ = await run(
        ActionRecordSurvey(services(store, chooser=chooser)), after(slots, "survey_skip"), domain
    )
    assert reply[0]["text"] == "No problem. Thanks for shopping with Voltmart!"
    assert set_["survey"] == "done"
    assert await store.client.xlen(f"{store.namespace}:surveys") == 0


async def test_erasure_removes_scores_comments_and_returns(store, chooser, domain):
    slots = {**await recommended(store, chooser, domain), "survey": "asked"}
    _, set_ = await rate(store, chooser, domain, slots, 2)
    await run(
        ActionRecordSurvey(services(store, chooser=chooser)),
        after({**slots, **set_, "survey_comment": "too slow"}, "survey_rate"),
        domain,
    )
    start = ActionSessionStart(services(store, chooser=chooser))
    await start.run(CollectingDispatcher(), after(slots), domain)  # the next session
    ns, arm = store.namespace, slots["experiments"]["reco-intro"]
    assert await store.client.hexists(returns_key(ns, "reco-intro"), FIXTURE_USER)
    assert await store.client.hget(engagement_key(ns, "reco-intro"), f"{arm}:sessions") == b"2"

    receipt = await Eraser(store.client, ns).erase([FIXTURE_USER])

    assert receipt[FIXTURE_USER]["stream:surveys"] == 2
    assert await store.client.xlen(f"{ns}:surveys") == 0
    assert not await store.client.exists(f"{ns}:dec:{slots['last_decision']}")
    assert not await store.client.hexists(returns_key(ns, "reco-intro"), FIXTURE_USER)
