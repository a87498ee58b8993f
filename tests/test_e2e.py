"""End to end: real Redis, real action server, real Rasa server, over the REST webhook.

Starts everything on free loopback ports (about a minute, mostly Rasa loading
TensorFlow), seeds the demo users, then talks to the assistant like a client.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
import requests

from core.demo import DEMO_PERSONAS
from core.pseudonyms import pseudonym
from core.redis_keys import UserKeys
from privacy.consent import consent_record
from tests.servers import (
    ACTION_SECRET,
    PSEUDONYM_KEY,
    ROOT,
    VAR,
    PostgresServer,
    RedisServer,
    action_server,
    free_port,
    gateway_server,
    rasa_server,
    write_endpoints,
)

pytestmark = pytest.mark.e2e
SLACK_SECRET = secrets.token_hex(16)  # generated per run: no secret lives in the repo
KEY = PSEUDONYM_KEY.encode()  # the key the test's servers use (PZ_PSEUDONYM_KEY)
KEYS = UserKeys("pz", KEY)  # the servers' key names (the key decides each user's hash tag)
MODEL = ROOT / "models" / "voltmart.tar.gz"


class Stack:
    def __init__(
        self, rasa_port: int, redis_server: RedisServer, pg: PostgresServer | None = None
    ) -> None:
        self.pg = pg
        self.url = f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook"
        self.slack_url = f"http://127.0.0.1:{rasa_port}/webhooks/slack/webhook"
        self.redis = redis.Redis.from_url(redis_server.url, decode_responses=True)
        self.redis_url = redis_server.url

    def post(self, body: Any, raw: bytes | None = None) -> requests.Response:
        data = raw if raw is not None else json.dumps(body).encode()
        return requests.post(
            self.url, data=data, timeout=30, headers={"Content-Type": "application/json"}
        )

    def messages(self, sender: str, text: str, **metadata: str) -> list[dict[str, Any]]:
        body = {"sender": sender, "message": text, **({"metadata": metadata} if metadata else {})}
        resp = self.post(body)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def say(self, sender: str, text: str, **metadata: str) -> str:
        return "\n".join(m["text"] for m in self.messages(sender, text, **metadata) if "text" in m)

    def set_profile(self, sender: str, **fields: str) -> None:
        """A returning customer: a profile, and yes to personalization."""
        self.redis.delete(KEYS.profile(sender))
        self.redis.hset(KEYS.profile(sender), mapping=fields)
        self.consent(sender)

    def events(self, sender: str) -> list[dict[str, Any]]:
        """The sender's conversation as Rasa's tracker store (PostgreSQL) holds it."""
        return self.pg.events("e2e", sender)

    def consent(self, sender: str, status: str = "granted") -> None:
        self.redis.hset(KEYS.consent(sender), mapping=consent_record(status, "rest"))


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    if not MODEL.exists():
        pytest.fail(f"{MODEL.relative_to(ROOT)} is missing: run 'make train' first")
    redis_server = RedisServer("e2e").start()
    pg = PostgresServer("e2e").start()
    conversations = {"PZ_CONVERSATIONS_URL": pg.url(pg.database("e2e"))}
    actions_port, rasa_port = free_port(), free_port()
    endpoints = write_endpoints(
        VAR / "e2e-endpoints.yml", actions_port, redis_server, postgres=pg, db="e2e"
    )
    credentials = VAR / "e2e-credentials.yml"  # the real file plus Slack with test secrets
    credentials.write_text(
        (ROOT / "credentials.yml").read_text() + "\nslack:\n"
        f"  slack_token: xoxb-test\n  slack_signing_secret: {SLACK_SECRET}\n"
    )
    # The shipped experiments with the bandit switched off, so persona wording is predictable
    # (the bandit itself is tested against a real Redis in tests/actions/test_feedback.py).
    experiments = VAR / "e2e-experiments.yml"
    experiments.write_text(
        (ROOT / "experiments" / "experiments.yml")
        .read_text()
        .replace("  enabled: true", "  enabled: false")
    )
    responses = VAR / "e2e-catalogue.yml"  # a copy the wording test may edit
    responses.write_text((ROOT / "responses" / "catalogue.yml").read_text())
    actions = action_server(actions_port, redis_server.url, experiments, responses, **conversations)
    actions.start(timeout=90)
    rasa = rasa_server(rasa_port, endpoints, credentials, PZ_REDIS_URL=redis_server.url)
    try:
        rasa.start(timeout=240)
        client = Stack(rasa_port, redis_server, pg)
        client.rasa_port, client.actions, client.rasa = rasa_port, actions, rasa
        # The demo users with their persona as an explicit override: these tests are about
        # the wording; test_a_published_segment_shapes_the_turn covers the model's path.
        for sender, persona in DEMO_PERSONAS.items():
            client.set_profile(sender, segment=persona)
        yield client
    finally:
        rasa.stop()
        actions.stop()
        redis_server.destroy()
        pg.destroy()


def test_same_question_two_segments_two_answers(stack: Stack):
    bargain = stack.say("user_bargain", "can you recommend a phone?")
    enthusiast = stack.say("user_enthusiast", "can you recommend a phone?")

    assert bargain != enthusiast
    assert "Best-value smartphones for you:" in bargain and "save €" in bargain
    assert "The most capable smartphones for you:" in enthusiast and "display:" in enthusiast
    assert bargain.endswith("Want the full list of discounts in this category?")
    assert enthusiast.endswith("Want the current deals as well, with their key specs?")


def test_frequent_buyer_asking_about_smartphones_hears_new_arrivals_and_deals(stack: Stack):
    answer = stack.say("user_frequent", "which smartphone should I buy?")

    assert answer.startswith("Our most loved smartphones for you:") and "released" in answer
    assert "As a regular, you'll know most of the brands." in answer


def test_greeting_follows_the_persona_set_at_session_start(stack: Stack):
    newcomer = stack.say("user_newcomer", "hello")
    stranger = stack.say("visitor_without_profile", "hello")

    assert newcomer.endswith("I can point you to devices that are simple to use.")
    greeting, question = stranger.split("\n")  # a stranger is asked about personalization
    assert greeting.startswith("Hi and welcome to Voltmart!")  # no segment yet
    assert question.startswith("May I use what you tell me")


def test_segment_slot_is_stored_in_the_conversation(stack: Stack):
    stack.say("user_casual", "hi")

    tracker = {"events": stack.events("user_casual")}
    segments = [
        e["value"] for e in tracker["events"] if e["event"] == "slot" and e["name"] == "segment"
    ]
    assert segments == ["casual_browser"]
    traits = [
        e["value"] for e in tracker["events"] if e["event"] == "slot" and e["name"] == "traits"
    ]
    assert traits[-1]["preset"] == "casual_browser" and traits[-1]["simplicity"] >= 0.8


def test_recommendation_feedback_and_experiment_through_rasa(stack: Stack):
    """Thumbs under the answer, the rating stored per variant and arm, the conversion counted."""
    stack.set_profile("user_rater", segment="casual_browser")
    messages = stack.messages("user_rater", "recommend me a tablet")
    listing = messages[0]
    assert [b["payload"] for b in listing["buttons"]] == [
        "/feedback_positive",
        "/feedback_negative",
    ]
    assert "Easy-going tablets for you:" in listing["text"]

    thanks = stack.say("user_rater", "/feedback_positive")

    assert thanks.startswith("Thanks for letting me know! Want")
    exposure = stack.redis.hgetall("pz:exp:reco-intro:u:user_rater")
    feedback = [e for _, e in stack.redis.xrange("pz:feedback") if e["user"] == "user_rater"]
    assert [(e["variant"], e["arm"], e["rating"]) for e in feedback] == [
        ("recommend.default", exposure["variant"], "up")
    ]
    assert json.loads(feedback[0]["experiments"]) == {"reco-intro": exposure["variant"]}
    assert stack.redis.hexists("pz:exp:reco-intro:conv", "user_rater")
    intro = "Up to" if exposure["variant"] == "savings" else "Easy-going"
    assert listing["text"].startswith(intro)
    tracker = {"events": stack.events("user_rater")}
    slots = {e["name"]: e["value"] for e in tracker["events"] if e["event"] == "slot"}
    assert slots["experiments"] == {"reco-intro": exposure["variant"]}
    assert slots["last_decision"] == feedback[0]["decision"]


def test_thumbs_down_asks_why_and_typed_feedback_works_too(stack: Stack):
    stack.set_profile("user_grumpy", segment="tech_enthusiast")
    stack.say("user_grumpy", "recommend a laptop")

    ask = stack.messages("user_grumpy", "thumbs down")
    reason = stack.say("user_grumpy", ask[0]["buttons"][0]["payload"])
    nothing = stack.say("user_never_recommended", "/feedback_positive")

    assert ask[0]["text"].startswith("Thanks, noted. Not enough detail")  # the traits slot
    assert reason == "Thanks, that helps me get better."
    assert nothing.startswith("Thanks! Ask me for a recommendation")
    rated = [e for _, e in stack.redis.xrange("pz:feedback") if e["user"] == "user_grumpy"]
    assert [(e["rating"], e["reason"]) for e in rated] == [("down", ""), ("down", "too_expensive")]


def test_the_survey_after_a_recommendation_through_rasa(stack: Stack):
    """Goodbye asks the survey once; a score outside 1-5 is asked again; the score and the
    comment are stored with the decision and the arm (actions/survey.py)."""
    stack.set_profile("user_surveyed", segment="casual_browser")
    stack.say("user_surveyed", "recommend me a tablet")

    goodbye = stack.messages("user_surveyed", "bye")
    bad = stack.say("user_surveyed", '/survey_rate{"satisfaction": 6}')
    ask = stack.say("user_surveyed", '/survey_rate{"satisfaction": 2}')
    thanks = stack.say("user_surveyed", "too many <b>cards</b>")
    again = stack.messages("user_surveyed", "bye")

    assert goodbye[-1]["text"].startswith("Before you go: how satisfied are you")
    assert goodbye[-1]["buttons"][3]["payload"] == '/survey_rate{"satisfaction": 4}'
    assert bad.startswith("Please choose a score from 1") and "how satisfied" in bad
    assert ask.startswith("Thanks! Anything you'd like to add?")
    assert thanks == "Thank you for your feedback!"
    assert not any("how satisfied" in m.get("text", "") for m in again)  # once
    entries = [e for _, e in stack.redis.xrange("pz:surveys") if e["user"] == "user_surveyed"]
    assert [(e["kind"], e["satisfaction"], e["comment"]) for e in entries] == [
        ("score", "2", ""),
        ("comment", "2", "too many <b>cards</b>"),
    ]
    exposure = stack.redis.hgetall("pz:exp:reco-intro:u:user_surveyed")
    assert entries[0]["arm"] == exposure["variant"] and entries[0]["segment"] == "casual_browser"


def test_wording_edits_reach_users_without_training_or_restart(stack: Stack):
    """The action server re-reads the catalogue; the model and the servers stay as they are."""
    path = VAR / "e2e-catalogue.yml"
    original = path.read_text()
    edited = original.replace(
        'What are you curious about?"\n      - id: greet.unplaced.timed',
        'What brings you here today?"\n      - id: greet.unplaced.timed',
    )
    assert edited != original
    model_before = MODEL.stat().st_mtime_ns
    try:
        path.write_text(edited)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            answer = stack.messages(f"visitor_{time.monotonic_ns()}", "hello")[0]["text"]
            if answer.endswith("What brings you here today?"):
                break
            time.sleep(0.5)
        assert answer.startswith("Hi and welcome to Voltmart!")
        assert answer.endswith("What brings you here today?")
    finally:
        path.write_text(original)
    assert MODEL.stat().st_mtime_ns == model_before


def test_a_changed_segment_shows_on_the_next_turn_without_restart(stack: Stack):
    stack.set_profile("user_switch", segment="bargain_hunter")
    before = stack.say("user_switch", "recommend me some headphones")
    stack.set_profile("user_switch", segment="tech_enthusiast")
    after = stack.say("user_switch", "recommend me some headphones")

    assert "Best-value headphones for you:" in before
    assert "The most capable ones for you:" in after  # "Back to headphones? ..."


def test_the_deals_offer_can_be_accepted(stack: Stack):
    stack.say("user_bargain", "recommend some headphones please")
    answer = stack.say("user_bargain", "yes please")

    assert answer.startswith("Deals on headphones for you:")


def test_consent_is_asked_first_and_then_personalizes(stack: Stack):
    stack.redis.hset(KEYS.profile("user_asked"), mapping={"segment": "bargain_hunter"})
    first = stack.messages("user_asked", "can you recommend a phone?")
    assert "Popular smartphones:" in first[0]["text"]  # not yet personalized
    assert first[-1]["text"].startswith("May I use what you tell me")
    assert [b["payload"] for b in first[-1]["buttons"]] == ["/give_consent", "/refuse_consent"]

    assert stack.say("user_asked", "/give_consent").startswith("Thanks! From now on")
    record = stack.redis.hgetall(KEYS.consent("user_asked"))
    assert record["status"] == "granted" and record["policy"] and record["channel"] == "rest"
    assert "Best-value ones for you" in stack.say("user_asked", "can you recommend a phone?")

    assert stack.say("user_asked", "stop personalizing").startswith("Understood")
    after = stack.say("user_asked", "can you recommend a phone?")
    assert "Best-value" not in after and "Popular smartphones:" in after  # no segment yet


def test_what_do_you_know_and_forget_me_through_rasa(stack: Stack):
    sender = "user_leaving"
    stack.set_profile(sender, segment="casual_browser")
    stack.say(sender, "recommend a tablet")
    known = stack.say(sender, "what do you know about me?")
    assert "Personalization: granted" in known and "segment: casual_browser" in known

    assert stack.say(sender, "forget me").startswith("This erases everything")
    assert stack.say(sender, "/deny") == "Okay, I've kept everything as it was."  # the button
    assert stack.events(sender)
    stack.say(sender, "forget me")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # a message races the erasure
        done = pool.submit(stack.say, sender, "/confirm_forget")
        racer = pool.submit(stack.say, sender, "hello again")
        assert done.result().startswith("Done: I erased everything")
        assert racer.result()
    assert traces(stack, sender) == []


def traces(stack: Stack, sender: str) -> list[str]:
    from privacy.audit import find_traces

    async def scan() -> list[str]:
        client = aioredis.Redis.from_url(stack.redis_url)
        try:
            return await find_traces(client, [sender])
        finally:
            await client.close()

    found = asyncio.run(scan())
    conn = stack.pg.connect("e2e")  # and the conversations database
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT sender_id FROM events WHERE sender_id = %s OR data LIKE %s",
                (sender, f"%{sender}%"),
            )
            found += [f"events row of {row[0]} (postgresql)" for row in cur.fetchall()]
    finally:
        conn.close()
    return found


BAD_REQUESTS = [
    ("empty text", {"sender": "u1", "message": ""}, None, 400),
    ("whitespace text", {"sender": "u1", "message": "   \n"}, None, 400),
    ("100 KB of text", {"sender": "u1", "message": "phone " * 17_000}, None, 413),
    ("non-UTF-8 bytes", None, b'{"sender": "u1", "message": "\xff\xfe\xfa"}', 400),
    ("invalid JSON", None, b'{"sender": "u1", "message": ', 400),
    ("JSON array", [], None, 400),
    ("JSON null", None, b"null", 400),
    ("sender is a list", {"sender": ["u1"], "message": "hi"}, None, 400),
    ("message is a number", {"sender": "u1", "message": 42}, None, 400),
    ("message is an object", {"sender": "u1", "message": {"text": "hi"}}, None, 400),
    ("missing sender", {"message": "hi"}, None, 400),
    ("metadata is a string", {"sender": "u1", "message": "hi", "metadata": "x"}, None, 400),
    ("huge sender id", {"sender": "u" * 10_000, "message": "hi"}, None, 400),
]


@pytest.mark.parametrize("case, body, raw, status", BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
def test_bad_input_gets_a_clear_4xx_and_the_server_keeps_serving(
    stack: Stack, case, body, raw, status
):
    resp = stack.post(body, raw)

    assert resp.status_code == status, resp.text
    assert resp.json()["error"]
    assert "Traceback" not in resp.text
    assert "popular" in stack.say("after_bad_input", "recommend a laptop").lower()


@pytest.mark.parametrize(
    "case, body",
    [
        ("emoji only", {"sender": "u2", "message": "😀🔥📱"}),
        ("emoji in a question", {"sender": "u2", "message": "any 📱 deals? 🙏"}),
        ("unknown sender", {"sender": "never_seen_before_42", "message": "recommend a tablet"}),
        ("integer sender", {"sender": 12345, "message": "hi"}),
        ("unknown extra fields", {"sender": "u3", "message": "hi", "colour": "blue"}),
        ("control characters", {"sender": "u4", "message": "hi\u0000\u0007 there"}),
    ],
)
def test_odd_but_valid_input_gets_an_answer(stack: Stack, case, body):
    resp = stack.post(body)

    assert resp.status_code == 200, resp.text
    texts = [m["text"] for m in resp.json() if "text" in m]
    assert texts and all(texts)
    # REST keeps the plain text; a rich payload (cards) comes alongside, never instead.
    assert all(m.get("text") or m.get("custom", {}).get("voltmart") == 1 for m in resp.json())


def test_unknown_sender_gets_the_default_persona(stack: Stack):
    answer = stack.say("never_seen_before_43", "can you recommend a tablet?")
    assert "Popular tablets:" in answer  # the default persona is in the reco-intro experiment


def test_logs_show_no_errors_for_handled_input(stack: Stack):
    log = (VAR / "actions.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-2000:]


def test_segment_export_reads_the_real_tracker_store(stack: Stack, tmp_path, monkeypatch):
    from segmentation.export import export
    from segmentation.tables import read_table

    monkeypatch.setenv("PZ_ACTION_SECRET", ACTION_SECRET)  # endpoints.yml names it, as Rasa's

    resp = stack.post(
        {
            "sender": "user_export",
            "message": "my email is jane.doe@example.com",
            "metadata": {"timezone": "Europe/Berlin", "device": "mobile", "region": "DE"},
        }
    )
    assert resp.status_code == 200
    stack.say("user_export", "any deals on laptops?")

    path, rows = export(str(VAR / "e2e-endpoints.yml"), tmp_path / "events.parquet", KEY)
    events = read_table(path)
    assert not {"user_export", "user_bargain"} & set(events["user_id"])  # pseudonyms only
    mine = events.loc[events["user_id"] == pseudonym("user_export", KEY)]
    assert rows == len(events) and len(mine) == 2
    assert "jane.doe@example.com" not in " ".join(events["text"])
    assert "<email>" in mine["text"].iloc[0]
    assert mine["timezone"].iloc[0] == "Europe/Berlin" and mine["device"].iloc[0] == "mobile"
    assert mine["intent"].iloc[1] == "ask_deals" and mine["channel"].iloc[1] == "rest"
    assert {pseudonym(u, KEY) for u in ("user_bargain", "user_enthusiast")} <= set(
        events["user_id"]
    )


def test_a_published_segment_shapes_the_turn_and_the_export(stack: Stack, tmp_path, monkeypatch):
    """No override: the active version's segment and traits answer, the shopper's own
    orders refine it, the tracker and `segment export` say which segment and version."""
    from core.traits import from_profile
    from segmentation.export import export
    from segmentation.publish import Keys, publish
    from segmentation.tables import read_table

    traits = from_profile({"share_new_arrivals": 2.0, "frequency": 1.0}).as_dict()
    sender = "published_shopper"
    version = publish(
        stack.redis,
        [pseudonym(sender, KEY)],
        ["seg-42"],
        {"segments": [{"id": "seg-42", "persona": "frequent_buyer", "traits": traits}]},
        {"preprocess": {}, "model": {"kind": "centroid"}, "segments": ["seg-42"]},
        Keys("pz"),
        version=f"e2e{time.time_ns()}",
    )["version"]
    ordered = {"order_count": "2", "order_total": "2400", "last_order_category": "laptops"}
    stack.set_profile(sender, last_order_at=f"{time.time() - 3 * 86400:.0f}", **ordered)

    answer = stack.say(sender, "what would you suggest?")

    assert "The newest headphones for you:" in answer  # what goes with the laptop
    assert "premium price range, to go with your laptop" in answer
    tracker = {"events": stack.events(sender)}
    slots = {e["name"]: e["value"] for e in tracker["events"] if e["event"] == "slot"}
    assert (slots["segment"], slots["segment_version"]) == ("seg-42", version)
    assert slots["traits"]["novelty"] == traits["novelty"]
    monkeypatch.setenv("PZ_ACTION_SECRET", ACTION_SECRET)
    path, _ = export(str(VAR / "e2e-endpoints.yml"), tmp_path / "events.parquet", KEY)
    rows = read_table(path)
    mine = rows.loc[rows["user_id"] == pseudonym(sender, KEY)]
    assert mine[["segment", "segment_version"]].values.tolist() == [["seg-42", version]]


async def test_a_purchase_in_the_stream_changes_the_next_answer(stack: Stack, planted):
    """Rasa streams the conversation, a CRM purchase joins it, the worker re-segments."""
    import redis.asyncio as aioredis

    from realtime.processing import FeatureWorker
    from realtime.sources import RedisStreamSource
    from realtime.stream import publish_event, purchase_event
    from segmentation.publish import publish
    from segmentation.train import train

    features, _ = planted
    result = train(features, "kmeans", 5, random_state=0)
    bargain = next(s for s in result.meta["segments"] if s["persona"] == "bargain_hunter")
    enthusiast = next(s for s in result.meta["segments"] if s["persona"] == "tech_enthusiast")
    publish(
        stack.redis,
        [pseudonym("live_user", KEY)],  # retrain publishes pseudonyms
        [bargain["id"]],
        {"segments": result.meta["segments"]},
        result.spec,
    )
    stack.consent("live_user")
    tz = night_timezone()
    before = stack.say("live_user", "any deals on headphones?", timezone=tz)
    assert before.startswith("Tonight's deals on headphones for you:")

    client = aioredis.Redis.from_url(stack.redis_url)
    source = RedisStreamSource(client, "pz:events")
    await source.ensure_group()
    worker = FeatureWorker(source, client, "pz", pseudonym_key=KEY)
    for i in range(3):  # big-ticket purchases, as the CRM ingest would stream them
        await publish_event(client, purchase_event("live_user", 2200.0 + i, "laptops"))
    while entries := await source.read(500, 100):
        await worker.process(entries)

    raw = await client.hgetall(KEYS.live("live_user"))
    live = {k.decode(): v.decode() for k, v in raw.items()}
    assert int(live["messages"]) >= 1  # Rasa's own events reached the worker through the stream
    assert live["segment_reason"].startswith("purchase: ")
    after = stack.say("live_user", "any deals on headphones?", timezone=tz)
    assert live["persona"] != "bargain_hunter" and after != before
    if live["segment"] == enthusiast["id"]:
        assert "Picked for shoppers who above all look for the specs" in after
    # The tracker says which segment and version shaped each turn.
    tracker = {"events": stack.events("live_user")}
    slots = [(e["name"], e["value"]) for e in tracker["events"] if e["event"] == "slot"]
    assert [v for n, v in slots if n == "segment"] == [bargain["id"], live["segment"]]
    assert ("segment_version", live["segment_version"]) in slots
    await client.close()


def slack_post(stack: Stack, body: bytes, secret: str, timestamp: int | None = None):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return requests.post(
        stack.slack_url,
        data=body,
        timeout=30,
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": f"v0={digest}",
        },
    )


def test_slack_accepts_a_correctly_signed_event_and_rejects_bad_signatures(stack: Stack):
    body = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "x"}).encode()

    good = slack_post(stack, body, SLACK_SECRET)
    wrong_secret = slack_post(stack, body, "not-the-secret")
    stale = slack_post(stack, body, SLACK_SECRET, timestamp=int(time.time()) - 3600)
    unsigned = requests.post(
        stack.slack_url, data=body, timeout=30, headers={"Content-Type": "application/json"}
    )

    assert good.status_code == 200 and good.json() == "c-123"
    for rejected in (wrong_secret, stale, unsigned):
        assert rejected.status_code == 400 and "X-Slack-Signature" in rejected.text
    assert stack.say("after_slack", "hi")  # the server keeps serving


@pytest.fixture(scope="module")
def gateway(stack: Stack) -> Iterator[str]:
    port = free_port()
    server = gateway_server(port, stack.rasa_port, stack.redis_url, VAR / "secrets")
    server.start(timeout=60)
    yield f"http://127.0.0.1:{port}"
    server.stop()


def demo_token(gateway: str, persona: str) -> tuple[str, str]:
    resp = requests.post(f"{gateway}/demo/login", json={"persona": persona}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"], resp.json()["sender"]


def gateway_chat(
    gateway: str, token: str | None, body: dict, timezone: str | None = None
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if timezone:
        headers["X-Timezone"] = timezone
    return requests.post(f"{gateway}/v1/chat", json=body, headers=headers, timeout=30)


def crm_demo_token(gateway: str) -> str:
    """A token of the demo CRM client (scope ingest), by the client-credentials grant."""
    secret = (VAR / "secrets" / "crm-demo.secret").read_text().strip()
    crm = requests.post(
        f"{gateway}/oauth/token",
        timeout=10,
        data={"grant_type": "client_credentials", "client_id": "crm-demo", "client_secret": secret},
    )
    assert crm.status_code == 200, crm.text
    return crm.json()["access_token"]


def night_timezone() -> str:
    """A zone where it is 1-4 am now. Live segments weigh the time of day people chat, so
    the purchase tests fix it instead of depending on when the suite runs."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    for offset in range(-12, 15):
        name = "Etc/GMT" + (f"+{-offset}" if offset <= 0 else f"-{offset}")
        if 1 <= dt.datetime.now(ZoneInfo(name)).hour <= 4:
            return name
    raise AssertionError("no zone is at night now")


ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.mark.parametrize(
    "persona, expected",
    [
        ("bargain_hunter", "Best-value"),  # "... smartphones for you" or "Back to ...? ..."
        ("tech_enthusiast", "The most capable"),
    ],
)
def test_web_chat_in_a_real_browser(gateway: str, persona: str, expected: str, stack: Stack):
    import subprocess

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"webchat-{persona}.png"
    shot.unlink(missing_ok=True)
    run = subprocess.run(
        [
            "node",
            str(ROOT / "tests" / "browser" / "chat.mjs"),
            "--url",
            gateway,
            "--persona",
            persona,
            "--message",
            "can you recommend a phone?",
            "--expect",
            expected,
            "--screenshot",
            str(shot),
            "--rate",
            "Helpful",
            "--survey",
            "quick & <i>helpful</i>",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert run.returncode == 0 and result["ok"], run.stdout + run.stderr
    assert expected in result["reply"]  # an experiment may add an intro line
    assert result["rated"].startswith("Thanks for letting me know!")
    # The 👍 on the button is drawn in colour: the page's fonts include a colour emoji font.
    assert result["emoji"]["coloured"] > 100, result["emoji"]
    rated = [e for _, e in stack.redis.xrange("pz:feedback") if e["user"] == result["sender"]]
    assert [e["rating"] for e in rated] == ["up"]
    # Close chat after the recommendation: the survey in the panel, then the chat closes.
    survey = result["survey"]
    assert survey["stillOpen"] == "open" and survey["thanks"] == "Thank you for your feedback!"
    assert survey["closed"].startswith("Chat closed.") and survey["inputDisabled"]
    answers = [e for _, e in stack.redis.xrange("pz:surveys") if e["user"] == result["sender"]]
    assert [(e["satisfaction"], e["comment"]) for e in answers] == [
        ("4", ""),
        ("4", "quick & <i>helpful</i>"),
    ]
    assert shot.stat().st_size > 10_000


def test_cards_compare_and_add_to_cart_in_a_real_browser(gateway: str):
    import subprocess

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "webchat-shop.png"
    args = [
        "--url",
        gateway,
        "--persona",
        "frequent_buyer",
        "--message",
        "laptops between 1000 and 2000 euros",
        "--expect",
        "laptops",
        "--shop",
        "--screenshot",
        str(shot),
    ]
    run = subprocess.run(
        ["node", str(ROOT / "tests" / "browser" / "chat.mjs"), *args],
        capture_output=True,
        text=True,
        timeout=180,
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert run.returncode == 0 and result["ok"], run.stdout + run.stderr
    shop = result["shop"]
    assert len(shop["names"]) >= 2 and all(shop["stock"])
    # "Compare" on a card compares it with the others the listing showed.
    assert shop["columns"][1] == shop["names"][0] and len(shop["columns"]) >= 3
    assert shop["rows"] >= 3
    assert shop["added"].startswith(f"Added 1 × {shop['addedName']} to your cart")
    assert shot.stat().st_size > 10_000


def test_gateway_auth_and_impersonation_against_the_real_assistant(gateway: str):
    assert gateway_chat(gateway, None, {"message": "hi"}).status_code == 401
    assert gateway_chat(gateway, "not.a.token", {"message": "hi"}).status_code == 401
    token, sender = demo_token(gateway, "casual_browser")
    assert sender == "user_casual"

    reply = gateway_chat(gateway, token, {"message": "recommend a tablet"})
    assert reply.status_code == 200 and reply.json()["fallback"] is False
    assert reply.json()["messages"][0]["text"].startswith("Easy-going tablets")
    other = gateway_chat(gateway, token, {"message": "hi", "sender": "user_bargain"})
    assert other.status_code == 403


def test_purchase_ingested_through_the_gateway_changes_the_next_answer(
    gateway: str, stack: Stack, planted
):
    import asyncio

    import redis.asyncio as aioredis

    from realtime.processing import FeatureWorker
    from realtime.sources import RedisStreamSource
    from segmentation.publish import publish
    from segmentation.train import train

    features, _ = planted
    result = train(features, "kmeans", 5, random_state=0)
    token, sender = demo_token(gateway, "default")  # a fresh guest: no chat history yet
    assert sender.startswith("guest_")
    bargain = next(s for s in result.meta["segments"] if s["persona"] == "bargain_hunter")
    publish(
        stack.redis,
        [pseudonym(sender, KEY)],
        [bargain["id"]],
        {"segments": result.meta["segments"]},
        result.spec,
    )
    tz = night_timezone()
    said_yes = gateway_chat(gateway, token, {"message": "/give_consent"}, tz).json()  # the button
    assert said_yes["messages"][0]["text"].startswith("Thanks! From now on I'll tailor")
    before = gateway_chat(gateway, token, {"message": "any deals on headphones?"}, tz).json()
    assert before["messages"][0]["text"].startswith("Tonight's deals on headphones for you:")

    crm_token = crm_demo_token(gateway)
    for i in range(3):
        ingest = requests.post(
            f"{gateway}/v1/events/purchase",
            timeout=10,
            headers={"Authorization": f"Bearer {crm_token}"},
            json={
                "user_id": sender,
                "amount": 2300.0 + i,
                "category": "laptops",
                "order_id": f"o-{i}",
            },
        )
        assert ingest.status_code == 202, ingest.text
    assert gateway_chat(gateway, crm_token, {"message": "hi"}).status_code == 403  # no chat scope

    async def run_worker() -> dict:
        client = aioredis.Redis.from_url(stack.redis_url)
        source = RedisStreamSource(client, "pz:events", consumer="e2e-gateway")
        await source.ensure_group()
        worker = FeatureWorker(source, client, "pz", pseudonym_key=KEY)
        while entries := await source.read(500, 100):
            await worker.process(entries)
        live = await client.hgetall(KEYS.live(sender))
        await client.close()
        return {k.decode(): v.decode() for k, v in live.items()}

    live = asyncio.run(run_worker())
    assert live["segment_reason"].startswith("purchase: ") and float(live["monetary"]) >= 6900
    after = gateway_chat(gateway, token, {"message": "any deals on headphones?"}, tz).json()
    assert after["messages"] != before["messages"]
    # Their own orders (through the ingest) set the price band the answer is ranked for.
    assert "premium price range" in after["messages"][0]["text"]


def test_a_burst_far_over_the_rate_limit_gets_429_with_retry_after(gateway: str):
    import concurrent.futures

    token, _ = demo_token(gateway, "new_visitor")

    def one(_: int) -> requests.Response:
        return gateway_chat(gateway, token, {"message": "hi"})

    # All 60 at once: the limit is 30 per 10 s per user, and a burst must hit it however
    # long the admitted turns then take (they queue behind each other in Rasa's lock).
    with concurrent.futures.ThreadPoolExecutor(max_workers=60) as pool:
        replies = list(pool.map(one, range(60)))
    limited = [r for r in replies if r.status_code == 429]
    served = [r for r in replies if r.status_code == 200]
    assert len(served) <= 30 and len(limited) >= 30
    assert all(int(r.headers["Retry-After"]) >= 1 for r in limited)
    assert all(r.json()["messages"] for r in served)
    other, _ = demo_token(gateway, "casual_browser")  # another user is not affected
    assert gateway_chat(gateway, other, {"message": "hi"}).status_code == 200


# --- Shopping beyond recommendations (issue 14) -------------------------------------------

ORDER = re.compile(r"VM-[0-9A-F]{8}")
HONEST_ACTIONS = {"action_out_of_scope", "action_help", "action_default_fallback"}
# Small talk answers nothing about the shop: not wrong for an unsupported question.
HARMLESS_ACTIONS = {"action_greet", "action_goodbye", "action_thank", "utter_iamabot"}
UNKNOWN_PRODUCT = "I couldn't find "  # responses/catalogue.yml unknown_product
# Answers that only ask back (which model, which kind of product): they claim nothing, so
# they are not wrong, but the report counts them apart from the honest "can't help".
ASK_BACK_KEYS = ("ask_product", "ask_category")
# A rating with nothing to rate ("meh" as a first message) stores nothing and answers "Thanks!
# Ask me for a recommendation ...": small talk, like HARMLESS_ACTIONS.
NOTHING_TO_RATE_KEYS = ("feedback_nothing_to_rate",)


def openings(keys: tuple[str, ...]) -> tuple[str, ...]:
    """How each variant of these answers starts (its text up to the first value)."""
    import yaml

    responses = yaml.safe_load((ROOT / "responses" / "catalogue.yml").read_text())["responses"]
    return tuple(v["text"].split("{", 1)[0] for key in keys for v in responses[key]["variants"])


def turn_actions(stack: Stack, sender: str) -> list[str]:
    """The actions Rasa ran for the sender's latest message (from the stored conversation)."""
    events = stack.events(sender)
    last_user = max(i for i, e in enumerate(events) if e["event"] == "user")
    return [
        e["name"]
        for e in events[last_user + 1 :]
        if e["event"] == "action" and e["name"] != "action_listen"
    ]


def latest_parse(stack: Stack, sender: str) -> dict:
    events = stack.events(sender)
    return [e for e in events if e["event"] == "user"][-1]["parse_data"]


def latest_intent(stack: Stack, sender: str) -> dict:
    parsed = latest_parse(stack, sender)["intent"]
    return {"name": parsed.get("name"), "confidence": round(parsed.get("confidence") or 0, 3)}


def test_budget_compare_cart_checkout_and_order_status_through_the_gateway(
    gateway: str, stack: Stack
):
    token, sender = demo_token(gateway, "tech_enthusiast")

    def chat(text: str) -> list[dict]:
        resp = gateway_chat(gateway, token, {"message": text})
        assert resp.status_code == 200 and resp.json()["fallback"] is False, resp.text
        return resp.json()["messages"]

    budget = chat("laptops between 1000 and 2000 euros")
    cards = next(m["custom"] for m in budget if "custom" in m)
    assert cards["type"] == "products" and cards["products"]
    assert all(
        1000 <= float(c["price"].strip("€").replace(",", ""))
        for c in cards["products"]
        if not c["deal_price"]
    )
    first, second = cards["products"][0]["name"], cards["products"][1]["name"]
    table = next(
        m["custom"] for m in chat(f"compare the {first} and the {second}") if "custom" in m
    )
    assert table["type"] == "comparison" and table["products"] == [first, second]
    assert chat(f"I'll take the {first}")[0]["text"].startswith(f"Added 1 × {first} to your cart")
    cart = next(m["custom"] for m in chat("what's in my cart?") if "custom" in m)
    assert cart["type"] == "cart" and [i["name"] for i in cart["items"]] == [first]
    placed = chat("check out")[0]["text"]
    order_id = ORDER.search(placed).group(0)
    assert placed.startswith(f"Thank you! Order {order_id} is placed")
    assert chat("check out")[0]["text"].startswith(
        f"That cart is already ordered: order {order_id}"
    )
    status = chat("where is my order?")[0]["text"]
    assert status.startswith(f"Order {order_id} (1 × {first}") and "being packed" in status

    # Rasa's REST webhook without the gateway: claiming the member's account is ignored.
    direct = stack.messages(sender, "where is my order?", account="member")
    assert direct[0]["text"].startswith("Please sign in first so I can show your orders")
    assert order_id not in json.dumps(direct)
    guest, _ = demo_token(gateway, "default")
    answer = gateway_chat(gateway, guest, {"message": f"where is order {order_id}?"}).json()
    assert answer["messages"][0]["text"].startswith("Please sign in first")


def test_store_policies_come_from_the_response_selector_never_a_product_sheet(stack: Stack):
    stack.set_profile("policy_regular", order_count="7", segment="casual_browser")
    for question, start in [
        ("how much is shipping?", "Delivery takes 1–3 working days"),
        ("can i get a refund if i return it", "You can return anything within 30 days"),
        ("does the warranty cover a broken screen", "Every product comes with a 2-year warranty"),
        ("can I pay with paypal", "We accept Visa"),
        ("when is the store open", "This chat is open around the clock"),
    ]:
        sender = f"policy_{hashlib.sha1(question.encode()).hexdigest()[:8]}"
        text = stack.say(sender, question)
        assert text.startswith(start), (question, text)
        assert turn_actions(stack, sender)[:2] == ["utter_policy", "action_policy_for_you"]
        # The scope guard (rasa_ext/scope.py) is in the served model and let it through.
        assert latest_parse(stack, sender)["scope"]["turned_away"] is False
    regular = stack.say("policy_regular", "what does delivery cost?")
    assert "with 7 orders behind you, delivery is free on every order" in regular


def test_rasa_serves_no_socketio_channel(stack: Stack):
    """credentials.yml has no socket.io channel (a client could pick its own sender there):
    Rasa answers 404 where its socket.io endpoint would be, while the REST channel works."""
    base = stack.url.removesuffix("/webhooks/rest/webhook")
    polling = requests.get(f"{base}/socket.io/?EIO=4&transport=polling", timeout=10)
    assert polling.status_code == 404
    assert stack.say("socketio_check", "hi")


def test_rasa_exports_its_turns_for_prometheus(stack: Stack):
    """GET /webhooks/rest/metrics (rasa_ext/turn_metrics.py): turns by outcome, durations."""
    base = stack.url.removesuffix("/webhook")
    assert stack.say("metrics_check", "hi")
    resp = requests.get(f"{base}/metrics", timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
    answered = re.search(r'^pz_rasa_turns_total\{outcome="answered"\} (\S+)$', resp.text, re.M)
    assert answered and float(answered[1]) >= 1
    assert "pz_rasa_turn_duration_seconds_bucket" in resp.text


def test_stock_and_budget_bad_input_through_rasa(stack: Stack):
    assert "out of stock right now" in stack.say("stock_user", "is the veyra fold in stock?")
    assert "only 1 left" in stack.say("stock_user", "is the aeris 13 available?")
    assert stack.say("budget_user", "phones under -50 euros").startswith("I can't search with")
    assert "Sorry, I can't work in" in stack.say("budget_user", "laptops under 500 bitcoin")
    one = stack.say("compare_user", "compare the Nova X12")
    assert one.startswith("Which products should I compare Nova X12 with?")


# Issue 14's bar for wrong answers to unsupported questions (README, "Quality figures").
# The development sets served error analysis or chose the scope guard's design, thresholds,
# extra examples and list of other companies: the first three and blind12-15 (the honest
# sets until their answers were seen in issue 18) must stay within the bar, the others
# (blind until they chose something) within the floor. The honest estimate is two sets
# written blind (by helpers that saw neither the training data nor any other set), first
# measured after the guard's last change, pooled and held to the bar.
UNSUPPORTED_BAR = 0.02
UNSUPPORTED_FLOOR = 0.10
DEVELOPMENT_SETS = {  # name -> (at least, allowed wrong rate)
    "unsupported": (150, UNSUPPORTED_BAR),  # error analysis since its first measurement
    "unsupported_fresh": (75, UNSUPPORTED_BAR),  # analysed since issue 14's second stop
    "unsupported_blind": (115, UNSUPPORTED_BAR),  # chose the guard's sentence vectors
    "unsupported_blind2": (115, UNSUPPORTED_FLOOR),  # chose out_of_scope_elsewhere.yml
    "unsupported_blind3": (115, UNSUPPORTED_FLOOR),  # with blind2
    "unsupported_blind4": (115, UNSUPPORTED_FLOOR),  # chose the neighbour share (5%)
    "unsupported_blind5": (115, UNSUPPORTED_FLOOR),  # with blind4
    "unsupported_blind6": (115, UNSUPPORTED_FLOOR),  # chose other_parties.yml
    "unsupported_blind7": (115, UNSUPPORTED_FLOOR),  # with blind6
    "unsupported_blind8": (115, UNSUPPORTED_FLOOR),  # chose guarding consent, categories
    "unsupported_blind9": (115, UNSUPPORTED_FLOOR),  # with blind8
    "unsupported_blind10": (115, UNSUPPORTED_FLOOR),  # chose out_of_scope_noise.yml
    "unsupported_blind11": (115, UNSUPPORTED_FLOOR),  # with blind10
    # Honest until issue 18's sums and its owned-device rule were measured on them.
    **{f"unsupported_blind{n}": (115, UNSUPPORTED_BAR) for n in (12, 13, 14, 15)},
}
HONEST_SETS = {f"unsupported_blind{n}": 115 for n in (16, 17)}  # pooled


@pytest.fixture(scope="module", params=sorted(DEVELOPMENT_SETS))
def unsupported(stack: Stack, request) -> dict:
    minimum, allowed = DEVELOPMENT_SETS[request.param]
    return {**measure_unsupported(stack, request.param, minimum), "allowed": allowed}


@pytest.fixture(scope="module")
def unsupported_honest(stack: Stack) -> dict:
    reports = [measure_unsupported(stack, name, least) for name, least in HONEST_SETS.items()]
    pooled = {k: sum(r[k] for r in reports) for k in ("questions", "minimum", "wrong", "honest")}
    wrong = [w for r in reports for w in r["wrong_answers"]]
    return {**pooled, "wrong_rate": pooled["wrong"] / pooled["questions"], "wrong_answers": wrong}


def measure_unsupported(stack: Stack, name: str, minimum: int) -> dict:
    """tests/nlu/<name>.yml through the real Rasa and action server, each question from a
    new sender; a wrong answer is an unrelated shop action or product sheet, an honest one
    is "can't help" / "didn't get that" / "no such product"."""
    import yaml

    data = yaml.safe_load((ROOT / "tests" / "nlu" / f"{name}.yml").read_text())
    questions = [q[2:].strip() for q in data["nlu"][0]["examples"].splitlines() if q.strip()]
    ask_back, nothing_to_rate = openings(ASK_BACK_KEYS), openings(NOTHING_TO_RATE_KEYS)

    def one(item: tuple[int, str]) -> dict:
        i, question = item
        sender = f"{name}_{i}"
        text = stack.say(sender, question)
        actions = turn_actions(stack, sender)
        answered = next((a for a in actions if a != "action_session_start"), "none")
        honest = answered in HONEST_ACTIONS or text.startswith(UNKNOWN_PRODUCT)
        asked_back = not honest and text.startswith(ask_back)
        harmless = answered in HARMLESS_ACTIONS or (
            answered == "action_record_feedback" and text.startswith(nothing_to_rate)
        )
        wrong = not (honest or asked_back or harmless)
        intent = latest_intent(stack, sender)
        scope = latest_parse(stack, sender).get("scope") or {}
        return {
            "question": question,
            "intent": intent,
            "scope": scope.get("turned_away", False),
            "action": answered,
            "wrong": wrong,
            "asked_back": asked_back,
            "reply": text[:120],
        }

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(one, enumerate(questions)))
    wrong = [r for r in results if r["wrong"]]
    report = {
        "set": name,
        "minimum": minimum,
        "questions": len(results),
        "wrong": len(wrong),
        "wrong_rate": round(len(wrong) / len(results), 4),
        "honest": sum(r["action"] in HONEST_ACTIONS for r in results),
        "asked_back": sum(r["asked_back"] for r in results),
        "turned_away_by_scope_guard": sum(bool(r["scope"]) for r in results),
        "bar": UNSUPPORTED_BAR,
        "wrong_answers": wrong,
    }
    out = ROOT / "var" / "test-results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"{name} questions: {len(wrong)}/{len(results)} wrong, see {out}")
    return report


def test_development_sets_stay_within_their_bar(unsupported: dict):
    assert unsupported["questions"] >= unsupported["minimum"]
    assert unsupported["honest"] > unsupported["questions"] * 0.8
    assert unsupported["wrong_rate"] <= unsupported["allowed"], json.dumps(
        unsupported["wrong_answers"], indent=2
    )


def test_the_blind_sets_mostly_get_an_honest_answer(unsupported_honest: dict):
    assert unsupported_honest["questions"] >= unsupported_honest["minimum"]
    assert unsupported_honest["honest"] > unsupported_honest["questions"] * 0.8
    assert unsupported_honest["wrong_rate"] <= UNSUPPORTED_FLOOR, json.dumps(
        unsupported_honest["wrong_answers"], indent=2
    )


def test_the_blind_sets_meet_the_issue_bar(unsupported_honest: dict):
    assert unsupported_honest["wrong_rate"] <= UNSUPPORTED_BAR, json.dumps(
        unsupported_honest["wrong_answers"], indent=2
    )


# Last: it stops the Rasa server the module's other tests use.
def test_gateway_answers_with_a_fallback_when_rasa_is_down(gateway: str, stack: Stack):
    """Runs last in this module: it stops the Rasa server.

    (With only the action server down, Rasa itself answers with its default
    fallback response rather than an empty list; the gateway's handling of an
    empty answer is covered against a stub in tests/gateway.)
    """
    token, _ = demo_token(gateway, "tech_enthusiast")
    stack.rasa.stop()
    started = time.monotonic()
    reply = gateway_chat(gateway, token, {"message": "can you recommend a laptop?"})
    assert time.monotonic() - started < 10
    assert reply.status_code == 200 and reply.json()["fallback"] is True, reply.text
    assert reply.json()["messages"][0]["text"].startswith("Sorry")
    metrics = requests.get(f"{gateway}/metrics", timeout=10).text
    assert 'gateway_fallbacks_total{reason="unreachable"}' in metrics
