"""Request validation of the REST channel, case by case (no server needed)."""

from __future__ import annotations

import json

import pytest

from rasa_ext.channels import BadRequest, GuardedRestInput, parse_message_request


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
