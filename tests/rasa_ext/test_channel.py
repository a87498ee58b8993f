"""Request validation of the REST channel, case by case (no server needed)."""

from __future__ import annotations

import asyncio
import json

import pytest
from rasa.core.channels.channel import CollectingOutputChannel

from core.limits import TURN_FALLBACK_TEXT, fallback_payload
from rasa_ext.channels import (
    BadRequest,
    GuardedRestInput,
    answer_within,
    parse_message_request,
    vouched,
)
from rasa_ext.turn_metrics import TurnMetrics


def parse(body: object, raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body).encode()
    return parse_message_request(
        data, max_body_bytes=4096, max_message_chars=100, max_sender_chars=16
    )


def test_good_request():
    assert parse({"sender": "u", "message": "hi", "metadata": {"tz": "UTC"}}) == (
        "u",
        "hi",
        {"tz": "UTC"},
    )


def test_integer_sender_is_accepted_as_text():
    assert parse({"sender": 7, "message": "hi"})[0] == "7"


@pytest.mark.parametrize(
    "body, raw, status, message",
    [
        (None, b"x" * 5000, 413, "larger than 4096 bytes"),
        (None, b"\xff", 400, "not valid UTF-8"),
        (None, b"{", 400, "not valid JSON"),
        ([1], None, 400, "must be a JSON object"),
        ({"sender": True, "message": "hi"}, None, 400, "'sender' must be a non-empty string"),
        ({"sender": " ", "message": "hi"}, None, 400, "'sender' must be a non-empty string"),
        ({"sender": "a\nb", "message": "hi"}, None, 400, "printable"),
        ({"sender": "x" * 17, "message": "hi"}, None, 400, "at most 16"),
        ({"sender": "u"}, None, 400, "'message' must be a string"),
        ({"sender": "u", "message": ""}, None, 400, "must not be empty"),
        ({"sender": "u", "message": "x" * 101}, None, 413, "longer than 100 characters"),
        ({"sender": "u", "message": "hi", "metadata": [1]}, None, 400, "'metadata'"),
    ],
)
def test_bad_requests(body, raw, status, message):
    with pytest.raises(BadRequest) as err:
        parse(body, raw)
    assert err.value.status == status
    assert message in str(err.value)


def test_channel_keeps_rasa_rest_name_and_reads_limits_from_credentials():
    channel = GuardedRestInput.from_credentials({"max_message_chars": 50})
    assert channel.name() == "rest"
    assert channel.max_message_chars == 50
    assert GuardedRestInput.from_credentials(None).max_message_chars == 2000


async def test_every_turn_ends_in_an_answer_within_the_deadline():
    finished = []

    async def turn(collector, delay=0.0, fail=False, say="hi"):
        await asyncio.sleep(delay)
        if fail:
            raise RuntimeError("action server down")
        if say:
            await collector.send_text_message("u1", say)
        finished.append(say)

    metrics = TurnMetrics()
    normal = CollectingOutputChannel()
    assert (await answer_within(turn(normal), normal, 1.0, "u1", metrics))[0]["text"] == "hi"
    for kind, kwargs in (("error", {"fail": True}), ("empty", {"say": ""})):
        out = CollectingOutputChannel()
        answer = await answer_within(turn(out, **kwargs), out, 1.0, "u1", metrics)
        marker = fallback_payload("rasa", kind)  # for the gateway's count of non-answers
        assert answer == [{"recipient_id": "u1", "text": TURN_FALLBACK_TEXT, "custom": marker}]
    late = CollectingOutputChannel()
    answer = await answer_within(turn(late, delay=0.3, say="late"), late, 0.05, "u1", metrics)
    assert answer[0]["text"] == TURN_FALLBACK_TEXT and "late" not in finished
    assert answer[0]["custom"] == fallback_payload("rasa", "deadline")
    await asyncio.sleep(0.4)
    assert "late" in finished  # the turn was not cancelled: it ends under the user's lock
    # Counted: every outcome once, four durations (GET /webhooks/rest/metrics).
    assert metrics.fallbacks() == {"deadline": 1, "error": 1, "empty": 1}
    text = metrics.render().decode()
    assert 'pz_rasa_turns_total{outcome="answered"} 1.0' in text
    assert "pz_rasa_turn_duration_seconds_count 4.0" in text


@pytest.mark.parametrize(
    ("token", "secret", "kept"),
    [
        ("s3cret-value", "s3cret-value", True),
        ("wrong", "s3cret-value", False),
        (None, "s3cret-value", False),
        ("", "", False),  # no secret configured: nobody is vouched for
        ("anything", "", False),
    ],
)
def test_only_the_gateway_may_say_whose_account_a_message_is(token, secret, kept):
    metadata = {"account": "member", "timezone": "Europe/Berlin"}
    out = vouched(metadata, token, secret)
    assert out == (metadata if kept else {"timezone": "Europe/Berlin"})
    assert vouched(None, token, secret) is None
    assert vouched({"region": "DE"}, token, secret) == {"region": "DE"}
