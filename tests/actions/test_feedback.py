"""Experiments, bandit and feedback through the real actions and a real Redis.

Each test owns a Redis namespace (the `store` fixture); experiments are
defined inline so the expected variants are known.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.feedback import ActionRecordFeedback
from actions.recommendations import ActionRecommendProducts, ActionShowDeals
from core.traits import PRESETS
from experiments.assignment import assign
from experiments.bandit import thompson_probabilities
from experiments.config import load_experiments
from experiments.decisions import DecisionStore, bandit_key
from experiments.exposures import ExposureStore, exposure_key
from experiments.policy import ArmChooser, BanditSettings
from personalization.store import ProfileStore
from privacy.consent import GRANTED, record_consent
from tests.conftest import services, tracker_from_fixture

EXPERIMENTS = """experiments:
  - key: reco-intro
    response: recommend
    variants: {base: 0.5, savings: 0.5}
    personas: [bargain_hunter]
    conversion: {feedback: positive}
  - key: reco-yes
    response: recommend
    variants: {base: 0.5, savings: 0.5}
    personas: [tech_enthusiast]
    conversion: {intent: affirm}
"""
# Every trait profile answers a recommendation with recommend.default (composed from the
# traits); the bandit keeps its state per variant and trait preset.
RECOMMEND = "recommend.default"


@pytest.fixture
def experiments(tmp_path):
    path = tmp_path / "experiments.yml"
    path.write_text(EXPERIMENTS)
    return load_experiments(path)


def chooser_for(store: ProfileStore, experiments, seed=0, **settings) -> ArmChooser:
    return ArmChooser(
        DecisionStore(store.client, store.namespace),
        ExposureStore(store.client, store.namespace),
        experiments,
        BanditSettings(**settings),
        np.random.default_rng(seed),
    )


async def run(action, tracker, domain):
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain)
    if action.services.chooser.decisions is not None:
        await action.services.chooser.decisions.flush()  # decisions are written in the background
    assert 1 <= len(dispatcher.messages) <= 2, dispatcher.messages  # answer (+ follow-up)
    return dispatcher.messages[0], {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def answered_slots(persona: str) -> dict:
    """What the recommendation being rated left on the tracker: segment, traits, consent."""
    return {"segment": persona, "traits": PRESETS[persona].as_dict(), "consent": "granted"}


def feedback_tracker(
    sender, decision, intent="feedback_positive", reason=None, slots=None, persona="bargain_hunter"
):
    entities = [{"entity": "feedback_reason", "value": reason}] if reason else []
    return tracker_from_fixture(
        "recommend_phones",
        sender_id=sender,
        slots={"last_decision": decision, **answered_slots(persona), **(slots or {})},
        latest_message={"text": "/" + intent, "intent": {"name": intent}, "entities": entities},
    )


async def recommend(store, chooser, domain, sender="user_test", segment="bargain_hunter"):
    await store.put_profile(sender, {"segment": segment})
    await record_consent(store.client, store.namespace, sender, GRANTED)
    action = ActionRecommendProducts(services(store, chooser=chooser))
    return await run(action, tracker_from_fixture("recommend_phones", sender_id=sender), domain)


async def test_a_recommendation_is_a_logged_decision_with_thumbs(store, domain, experiments):
    chooser = chooser_for(store, experiments)
    message, slots = await recommend(store, chooser, domain)

    expected = assign(experiments["reco-intro"].experiment, "user_test", "bargain_hunter")
    assert [b["payload"] for b in message["buttons"]] == [
        "/feedback_positive",
        "/feedback_negative",
    ]
    assert slots["experiments"] == {"reco-intro": expected}
    assert message["text"].startswith("Up to ") == (expected == "savings")
    assert "Best-value smartphones for you:" in message["text"]  # the bargain hunter's answer
    decision = await store.client.hgetall(f"{store.namespace}:dec:{slots['last_decision']}")
    assert decision[b"arm"].decode() == expected and decision[b"policy"] == b"experiment"
    assert float(decision[b"propensity"]) == 0.5
    logged = await store.client.xrange(f"{store.namespace}:decisions")
    assert [e[1][b"id"].decode() for e in logged] == [slots["last_decision"]]
    exposure = await store.client.hgetall(exposure_key(store.namespace, "reco-intro", "user_test"))
    assert exposure[b"variant"].decode() == expected and float(exposure[b"first_exposure"]) > 0


async def test_exposure_is_recorded_on_the_tracker_once(store, domain, experiments):
    chooser = chooser_for(store, experiments)
    _, first = await recommend(store, chooser, domain)
    action = ActionRecommendProducts(services(store, chooser=chooser))
    tracker = tracker_from_fixture("recommend_phones", slots={"experiments": first["experiments"]})
    _, second = await run(action, tracker, domain)
    assert "experiments" not in second and second["last_decision"] != first["last_decision"]


async def test_thumbs_up_rewards_once_and_converts(store, domain, experiments):
    chooser = chooser_for(store, experiments)
    _, slots = await recommend(store, chooser, domain)
    decision = slots["last_decision"]
    action = ActionRecordFeedback(services(store, chooser=chooser))

    thanks, _ = await run(action, feedback_tracker("user_test", decision), domain)
    again, _ = await run(action, feedback_tracker("user_test", decision), domain)  # double tap

    assert thanks["text"] == again["text"]
    # Shaped by the traits the rated answer used: a bargain hunter is pointed to deals.
    assert thanks["text"].startswith("Thanks for letting me know! Want today's deals")
    arm = slots["experiments"]["reco-intro"]
    counts = await store.client.hgetall(bandit_key(store.namespace, RECOMMEND, "bargain_hunter"))
    assert counts == {f"{arm}:s".encode(): b"1"}
    entries = await store.client.xrange(f"{store.namespace}:feedback")
    assert len(entries) == 1
    entry = entries[0][1]
    assert entry[b"rating"] == b"up" and entry[b"arm"].decode() == arm
    assert json.loads(entry[b"experiments"]) == {"reco-intro": arm}
    conversions = await store.client.hgetall(f"{store.namespace}:exp:reco-intro:conv")
    assert list(conversions) == [b"user_test"]


async def test_thumbs_down_asks_why_and_the_reason_is_stored_without_a_second_reward(
    store, domain, experiments
):
    chooser = chooser_for(store, experiments)
    _, slots = await recommend(store, chooser, domain)
    decision = slots["last_decision"]
    action = ActionRecordFeedback(services(store, chooser=chooser))

    ask, _ = await run(action, feedback_tracker("user_test", decision, "feedback_negative"), domain)
    why, _ = await run(
        action,
        feedback_tracker("user_test", decision, "feedback_negative", reason="too_expensive"),
        domain,
    )

    assert ask["text"].startswith("Thanks, noted. Was it the price, or something else?")
    assert "too_expensive" in ask["buttons"][0]["payload"]
    assert why["text"] == "Thanks, that helps me get better."
    stored = await store.client.hgetall(f"{store.namespace}:dec:{decision}")
    assert stored[b"rating"] == b"down" and stored[b"reason"] == b"too_expensive"
    assert stored[b"reward"] == b"0"
    counts = await store.client.hgetall(bandit_key(store.namespace, RECOMMEND, "bargain_hunter"))
    assert sum(float(v) for v in counts.values()) == 1  # one reward for two messages
    assert not await store.client.exists(f"{store.namespace}:exp:reco-intro:conv")


async def test_feedback_without_the_traits_slot_answers_as_for_an_unplaced_shopper(
    store, domain, experiments
):
    chooser = chooser_for(store, experiments)
    _, slots = await recommend(store, chooser, domain)
    action = ActionRecordFeedback(services(store, chooser=chooser))
    tracker = feedback_tracker("user_test", slots["last_decision"], slots={"traits": None})

    message, _ = await run(action, tracker, domain)

    assert message["text"] == "Thanks for letting me know!"  # nothing assumed about them


@pytest.mark.parametrize(
    "decision",
    [None, "0123456789abcdef", "../../etc", "x" * 200, "owned-by-someone-else"],
)
async def test_rewards_for_unknown_decisions_are_counted_not_applied(
    store, domain, experiments, decision
):
    chooser = chooser_for(store, experiments)
    if decision == "owned-by-someone-else":
        _, slots = await recommend(store, chooser, domain, sender="user_other")
        decision = slots["last_decision"]
    action = ActionRecordFeedback(services(store, chooser=chooser))

    message, _ = await run(action, feedback_tracker("user_test", decision), domain)

    assert message["text"].startswith("Thanks! Ask me about today's deals")
    assert not await store.client.exists(f"{store.namespace}:feedback")
    unknown = await store.client.get(f"{store.namespace}:bandit:unknown_rewards")
    assert (unknown is None) == (decision is None)  # no decision at all: nothing to count


async def test_feedback_with_redis_down_still_answers_and_logs_the_rating(
    private_redis, domain, experiments, caplog
):
    store = ProfileStore.from_url(private_redis.url, timeout=0.2)
    chooser = chooser_for(store, experiments)
    private_redis.stop()
    action = ActionRecordFeedback(services(store, chooser=chooser))

    with caplog.at_level(logging.WARNING):
        message, _ = await run(action, feedback_tracker("user_test", "abcdef0123456789"), domain)

    assert message["text"].startswith("Thanks for letting me know!")
    assert "rating=up" in caplog.text and "abcdef0123456789" in caplog.text
    await store.close()


async def test_recommendation_with_redis_down_uses_the_base_wording(
    private_redis, domain, experiments
):
    store = ProfileStore.from_url(private_redis.url, timeout=0.2)
    chooser = chooser_for(store, experiments)
    private_redis.stop()
    action = ActionRecommendProducts(services(store, chooser=chooser))

    message, slots = await run(
        action,
        tracker_from_fixture("recommend_phones", slots=answered_slots("bargain_hunter")),
        domain,
    )

    assert message["text"].startswith("Best-value smartphones for you:")  # the slot's traits
    assert "last_decision" not in slots and not message.get("buttons")
    await store.close()


async def test_bandit_state_is_shared_by_every_process(store, redis_url, domain):
    """Two choosers with their own connections stand in for two action-server processes."""
    other = ProfileStore.from_url(redis_url, timeout=0.5, namespace=store.namespace)
    a = chooser_for(store, {}, seed=1, warmup=10, min_share=0.05)
    b = chooser_for(other, {}, seed=2, warmup=10, min_share=0.05)
    feedback = ActionRecordFeedback(services(store, chooser=a))
    arms = ("base", "savings")
    for i in range(40):  # recommendations for bargain hunters: arms base and savings
        sender = f"user_{i}"
        await store.put_profile(sender, {"segment": "bargain_hunter"})
        await record_consent(store.client, store.namespace, sender, GRANTED)
        message, slots = await run(
            ActionRecommendProducts(services(store, chooser=a)),
            tracker_from_fixture("recommend_phones", sender_id=sender),
            domain,
        )
        liked = message["text"].startswith("Up to ")  # users love the savings arm
        await run(
            feedback,
            feedback_tracker(
                sender,
                slots["last_decision"],
                "feedback_positive" if liked else "feedback_negative",
            ),
            domain,
        )
    successes, failures = await b.decisions.bandit_state(RECOMMEND, "bargain_hunter", arms)
    assert successes.sum() + failures.sum() == 40
    p = thompson_probabilities(successes, failures, np.random.default_rng(0), 0.05, 10, 2000)
    assert p[1] > 0.9  # process B now prefers what process A's users liked
    picks = [
        (await b.choose("recommend", RECOMMEND, arms, "u", "bargain_hunter")) for _ in range(50)
    ]
    assert sum(c.arm == "savings" for c in picks) > 40
    assert all(c.policy == "bandit" and 0 < c.propensity <= 1 for c in picks)
    await other.close()


async def test_conversion_intent_counts_for_exposed_users_only(store, domain, experiments):
    chooser = chooser_for(store, experiments)
    await store.put_profile("user_test", {"segment": "tech_enthusiast"})
    recommend = ActionRecommendProducts(services(store, chooser=chooser))
    deals = ActionShowDeals(services(store, chooser=chooser))
    _, slots = await run(recommend, tracker_from_fixture("recommend_phones"), domain)
    assert set(slots["experiments"]) == {"reco-yes"}

    affirm = tracker_from_fixture(
        "recommend_phones",
        slots={"experiments": slots["experiments"]},
        latest_message={"text": "yes", "intent": {"name": "affirm"}, "entities": []},
    )
    await run(deals, affirm, domain)
    stranger = tracker_from_fixture(
        "recommend_phones",
        sender_id="user_never_exposed",
        slots={"experiments": {"reco-yes": "base"}},  # a forged slot does not convert
        latest_message={"text": "yes", "intent": {"name": "affirm"}, "entities": []},
    )
    await run(deals, stranger, domain)

    conversions = await store.client.hgetall(f"{store.namespace}:exp:reco-yes:conv")
    assert list(conversions) == [b"user_test"]


async def test_yes_to_the_deals_offer_rewards_the_recommendation_once(store, domain):
    """A conversion (affirm right after a recommendation) is a bandit reward, like a thumbs up."""
    chooser = chooser_for(store, {})  # no experiments: the bandit chooses
    await store.put_profile("user_test", {"segment": "tech_enthusiast"})
    _, slots = await run(
        ActionRecommendProducts(services(store, chooser=chooser)),
        tracker_from_fixture("recommend_phones"),
        domain,
    )
    decision = slots["last_decision"]
    affirm = tracker_from_fixture(
        "recommend_phones",
        slots={"last_decision": decision, **answered_slots("tech_enthusiast")},
        latest_message={"text": "yes", "intent": {"name": "affirm"}, "entities": []},
    )
    await run(ActionShowDeals(services(store, chooser=chooser)), affirm, domain)
    feedback = ActionRecordFeedback(services(store, chooser=chooser))
    down = feedback_tracker("user_test", decision, "feedback_negative", persona="tech_enthusiast")
    await run(feedback, down, domain)

    stored = await store.client.hgetall(f"{store.namespace}:dec:{decision}")
    counts = await store.client.hgetall(bandit_key(store.namespace, RECOMMEND, "tech_enthusiast"))
    arm = stored[b"arm"].decode()
    assert stored[b"reward"] == b"1" and b"converted_at" in stored
    assert stored[b"rating"] == b"down"  # the rating is kept for the reports...
    assert counts == {f"{arm}:s".encode(): b"1"}  # ...but the decision is rewarded once
