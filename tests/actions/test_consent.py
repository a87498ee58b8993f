"""Consent and the user's rights in the conversation: real SDK objects, real Redis."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import CONSENT_BUTTONS
from actions.privacy import ActionForgetMe, ActionSetConsent, ActionShowMyData
from actions.recommendations import ActionRecommendProducts
from actions.session import ActionSessionStart
from core.settings import DEFAULT_POLICY_VERSION
from core.traits import PRESETS
from experiments.decisions import DecisionStore
from experiments.policy import ArmChooser
from personalization.store import ProfileStore
from privacy.audit import find_traces
from privacy.consent import GRANTED, record_consent
from privacy.keyring import Keyring
from responses.cues import Cues
from tests.conftest import FIXTURE_USER, services, shipped_engine, tracker_from_fixture


def _plain(key: str) -> str:
    """The catalogue's words for everyone (privacy answers are not personalized)."""
    return shipped_engine().render(key, Cues()).text


CONSENT_QUESTION = _plain("consent_question")
GRANTED_TEXT = _plain("consent_granted")
DENIED_TEXT = _plain("consent_denied")
UNAVAILABLE_TEXT = _plain("privacy_unavailable")

KEYRING = Keyring((Fernet.generate_key(),), b"p" * 32)
# The designed answer for a shopper nothing may be known about ("no segment yet").
UNPLACED_PHONES = "Here's where most people start.\nPopular smartphones:"


def intent_tracker(intent: str, text: str, **slots: Any):
    tracker = tracker_from_fixture("recommend_phones", slots=slots)
    tracker.latest_message = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.99},
        "entities": [],
        "metadata": {},
    }
    return tracker


async def run(action, tracker, domain) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain)
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    return dispatcher.messages, slots


async def withdraw(store: ProfileStore) -> None:
    await store.client.delete(store.keys.consent(FIXTURE_USER))


async def test_without_an_answer_the_unplaced_answer_is_given_and_consent_asked_once(store, domain):
    await withdraw(store)
    await store.put_profile(FIXTURE_USER, {"segment": "bargain_hunter"})
    decisions = DecisionStore(store.client, store.namespace)
    action = ActionRecommendProducts(services(store, chooser=ArmChooser(decisions, None)))

    messages, slots = await run(action, tracker_from_fixture("recommend_phones"), domain)

    assert messages[0]["text"].startswith(UNPLACED_PHONES)  # not the bargain hunter's answer
    assert "Best-value" not in messages[0]["text"]
    assert not messages[0].get("buttons")  # no decision logged: nothing to rate
    assert messages[-1]["text"] == CONSENT_QUESTION
    assert messages[-1]["buttons"] == list(CONSENT_BUTTONS) and len(messages) == 2
    assert slots["consent"] == "asked" and slots.get("segment", "default") == "default"
    await decisions.flush()
    assert await store.client.exists(f"{store.namespace}:decisions") == 0

    again, _ = await run(
        action, tracker_from_fixture("recommend_phones", slots={"consent": "asked"}), domain
    )
    assert CONSENT_QUESTION not in [m["text"] for m in again]


async def test_refusal_means_the_unplaced_wording_and_no_question(store, domain):
    await store.put_profile(FIXTURE_USER, {"segment": "bargain_hunter"})
    messages, slots = await run(
        ActionSetConsent(services(store)),
        intent_tracker("refuse_consent", "stop personalizing", consent="granted"),
        domain,
    )
    assert messages[0]["text"] == DENIED_TEXT
    # Nothing about the shopper shapes the answers any more: segment, version, traits go.
    assert slots == {
        "consent": "denied",
        "segment": "default",
        "segment_version": None,
        "traits": None,
    }
    record = await store.client.hgetall(store.keys.consent(FIXTURE_USER))
    assert record[b"status"] == b"denied" and record[b"policy"] == DEFAULT_POLICY_VERSION.encode()

    answer, _ = await run(
        ActionRecommendProducts(services(store, chooser=ArmChooser(None, None))),
        tracker_from_fixture(
            "recommend_phones",
            # a traits slot left from before the refusal is not used either
            slots={"consent": "denied", "traits": PRESETS["bargain_hunter"].as_dict()},
        ),
        domain,
    )
    assert answer[0]["text"].startswith(UNPLACED_PHONES) and len(answer) == 2  # + deals offer
    assert CONSENT_QUESTION not in [m["text"] for m in answer]


async def test_consent_is_recorded_with_time_policy_and_channel_and_takes_effect(store, domain):
    await withdraw(store)
    await store.put_profile(FIXTURE_USER, {"segment": "bargain_hunter"})
    tracker = intent_tracker("give_consent", "yes, personalize", consent="asked")
    tracker.latest_message["metadata"] = {"channel": "web"}

    messages, slots = await run(ActionSetConsent(services(store)), tracker, domain)

    assert messages[0]["text"] == GRANTED_TEXT and slots == {"consent": "granted"}
    record = await store.client.hgetall(store.keys.consent(FIXTURE_USER))
    assert record[b"status"] == b"granted" and float(record[b"at"]) > 1.7e9
    assert record[b"policy"] == DEFAULT_POLICY_VERSION.encode() and record[b"channel"] == b"web"
    answer, _ = await run(
        ActionRecommendProducts(services(store, chooser=ArmChooser(None, None))),
        tracker_from_fixture("recommend_phones"),
        domain,
    )
    assert answer[0]["text"].startswith("Best-value smartphones for you:")


async def test_withdrawal_removes_live_features(store, domain):
    live = store.keys.live(FIXTURE_USER)
    await store.client.hset(live, mapping={"messages": 3, "persona": "bargain_hunter"})
    await run(ActionSetConsent(services(store)), intent_tracker("refuse_consent", "stop"), domain)
    assert await store.client.exists(live) == 0


async def test_consent_with_redis_down_says_so(private_redis, domain):
    store = ProfileStore.from_url(private_redis.url, timeout=0.2)
    private_redis.stop()
    messages, slots = await run(
        ActionSetConsent(services(store)), intent_tracker("give_consent", "yes"), domain
    )
    assert messages[0]["text"] == UNAVAILABLE_TEXT and slots == {}
    await store.close()


async def test_what_do_you_know_and_forget_me(store, domain):
    from privacy.fields import encrypt_fields

    await store.put_profile(
        FIXTURE_USER,
        encrypt_fields({"segment": "bargain_hunter", "name": "Ada Lovelace"}, KEYRING),
    )
    await store.client.hset(store.keys.live(FIXTURE_USER), "messages", 4)

    shown, _ = await run(
        ActionShowMyData(services(store, keyring=KEYRING)),
        intent_tracker("show_my_data", "what do you know about me?"),
        domain,
    )
    text = shown[0]["text"]
    assert "Personalization: granted" in text and "name: Ada Lovelace" in text
    assert "4 messages" in text

    gone, _ = await run(
        ActionForgetMe(services(store, keyring=KEYRING)),
        intent_tracker("confirm_forget", "yes, erase everything"),
        domain,
    )
    assert gone[0]["text"].startswith("Done: I erased everything")
    assert "profile" in gone[0]["text"] and "recent activity" in gone[0]["text"]
    assert await find_traces(store.client, [FIXTURE_USER], f"{store.namespace}:*") == []


async def test_session_start_carries_the_answer_but_asks_again_if_unanswered(store, domain):
    async def consent_set(slot: str) -> list:
        events = await ActionSessionStart(services(store)).run(
            CollectingDispatcher(),
            tracker_from_fixture("recommend_phones", slots={"consent": slot}),
            domain,
        )
        return [e["value"] for e in events if e.get("event") == "slot" and e["name"] == "consent"]

    await withdraw(store)  # nothing recorded in Redis: only the tracker's answer counts
    for slot, carried in (("granted", True), ("denied", True), ("asked", False)):
        assert bool(await consent_set(slot)) is carried, slot
    await record_consent(store.client, store.namespace, FIXTURE_USER, GRANTED, "rest")
    assert await consent_set("asked") == ["granted"]  # recorded elsewhere: as recorded
