"""POST /v1/chat: input checks, context enrichment and fallbacks.

Rasa is the stub from conftest.py (a tiny aiohttp server that records what it receives and
answers as told: normally, slowly, [], 500), so these run in seconds; tests/test_e2e.py
talks to the real Rasa.
"""

from __future__ import annotations

import ipaddress
import time

import pytest

from core.limits import TURN_FALLBACK_TEXT
from gateway.handlers import GATEWAY
from tests.gateway.conftest import GATEWAY_SECRET
from tests.servers import free_port

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
IPAD = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Safari/604.1"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


async def raw_chat(gw, body: bytes, content_type="application/json"):
    headers = {**gw.bearer(), "Content-Type": content_type}
    return await gw.client.post("/v1/chat", data=body, headers=headers)


async def test_answer_is_rasa_text_for_the_token_subject(gw, rasa):
    resp = await gw.chat({"message": "any deals?"})
    assert resp.status == 200
    assert await resp.json() == {
        "sender": "user_bargain",
        "messages": [{"text": "echo: any deals?"}],
        "fallback": False,
    }
    assert rasa.calls[0]["message"] == "any deals?"
    assert "segment_lookups_total 1.0" in await gw.metrics()


async def test_quick_replies_pass_through_and_malformed_ones_are_dropped(gw, rasa):
    rasa.mode = "buttons"
    resp = await gw.chat({"message": "recommend a phone"})
    assert resp.status == 200
    assert (await resp.json())["messages"] == [
        {"text": "pick one", "buttons": [{"title": "👍 Helpful", "payload": "/feedback_positive"}]},
        {"text": "plain"},
    ]


@pytest.mark.parametrize(
    ("body", "status", "hint"),
    [
        (b"{not json", 400, "JSON"),
        (b'{"message": NaN}', 400, "JSON"),
        (b"\xff\xfe{}", 400, "UTF-8"),
        (b"[1, 2]", 400, "object"),
        (b"", 400, "JSON"),
        (b"[" * 5000 + b"]" * 5000, 400, "JSON"),
        (b'{"message": "hi", "admin": true}', 400, "unknown field"),
        (b'{"text": "hi"}', 400, "unknown field"),
        (b'{"sender": "user_bargain"}', 400, "required"),
        (b'{"message": 42}', 400, "string"),
        (b'{"message": "   "}', 400, "empty"),
        (b'{"message": "hi", "metadata": [1]}', 400, "metadata"),
        (b'{"message": "hi", "sender": 7}', 400, "sender"),
    ],
)
async def test_bad_bodies_are_refused_before_rasa(gw, rasa, body, status, hint):
    resp = await raw_chat(gw, body)
    payload = await resp.json()
    assert resp.status == status, payload
    assert hint in payload["error"]
    assert rasa.calls == []


async def test_message_too_long_is_413(gw, rasa):
    limit = gw.config.max_message_chars
    resp = await gw.chat({"message": "a" * (limit + 1)})
    assert resp.status == 413 and str(limit) in (await resp.json())["error"]
    assert (await gw.chat({"message": "a" * limit})).status == 200


async def test_oversized_body_is_413(gw, rasa):
    big = b'{"message": "hi", "metadata": {"pad": "' + b"x" * 20_000 + b'"}}'
    resp = await raw_chat(gw, big)
    assert resp.status == 413 and "bytes" in (await resp.json())["error"]

    async def chunks():  # no Content-Length: the limit must hold while streaming too
        yield b'{"message": "hi", "metadata": {"pad": "'
        for _ in range(40):
            yield b"x" * 1000
        yield b'"}}'

    resp = await gw.client.post(
        "/v1/chat", data=chunks(), headers={**gw.bearer(), "Content-Type": "application/json"}
    )
    assert resp.status == 413
    assert rasa.calls == []


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
async def test_non_json_content_type_is_415(gw, rasa, content_type):
    resp = await raw_chat(gw, b'{"message": "hi"}', content_type)
    assert resp.status == 415 and rasa.calls == []


async def test_context_from_headers_reaches_rasa(gw, rasa):
    resp = await gw.chat(
        {"message": "hi", "metadata": {"campaign": "spring", "region": "XX", "device": "fridge"}},
        headers={"X-Timezone": "Europe/Berlin", "X-Region": "fr", "User-Agent": IPHONE},
    )
    assert resp.status == 200
    assert rasa.calls[0]["metadata"] == {
        "campaign": "spring",
        "timezone": "Europe/Berlin",
        "region": "FR",
        "device": "mobile",
        "channel": "web",
        "account": "member",
    }
    assert rasa.vouches == [GATEWAY_SECRET]


async def test_the_token_says_member_or_guest_whatever_the_client_claims(gw, rasa):
    await gw.chat({"message": "hi", "metadata": {"account": "member"}}, sub="guest_0a1b2c3d")
    await gw.chat({"message": "hi", "metadata": {"account": "guest"}}, sub="user_bargain")
    assert [c["metadata"]["account"] for c in rasa.calls] == ["guest", "member"]


async def test_rich_payloads_are_forwarded_beside_the_text_and_others_dropped(gw, rasa):
    rasa.mode = "rich"
    resp = await gw.chat({"message": "phones"})
    messages = (await resp.json())["messages"]
    assert messages == [
        {"text": "Phones for you:", "buttons": [{"title": "A", "payload": "/a"}]},
        {"custom": {"voltmart": 1, "type": "products", "title": "Phones", "products": []}},
    ]


async def test_unusable_headers_give_no_timezone_and_region_from_the_address(gw, rasa):
    await gw.chat(
        {"message": "hi"},
        headers={"X-Timezone": "Mars/Olympus_Mons", "X-Region": "France", "User-Agent": IPAD},
    )
    meta = rasa.calls[0]["metadata"]
    assert meta["timezone"] is None
    assert meta["region"] == "LOCAL"  # the test client connects from 127.0.0.1
    assert meta["device"] == "tablet"


async def test_region_from_forwarded_address_only_behind_a_trusted_proxy(make_gateway, rasa):
    forwarded = {"X-Forwarded-For": "198.51.100.23, 10.0.0.1", "User-Agent": DESKTOP}
    direct = await make_gateway()
    await direct.chat({"message": "hi"}, headers=forwarded)
    assert rasa.calls[-1]["metadata"]["region"] == "LOCAL"  # spoofable header ignored

    behind_proxy = await make_gateway(trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))
    await behind_proxy.chat({"message": "hi"}, headers=forwarded)
    assert rasa.calls[-1]["metadata"]["region"] == "FR"
    assert rasa.calls[-1]["metadata"]["device"] == "desktop"
    await behind_proxy.chat({"message": "hi"}, headers={"X-Forwarded-For": "203.0.113.9"})
    assert rasa.calls[-1]["metadata"]["region"] == "NL"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [("slow", "timeout"), ("empty", "empty"), ("error", "status_5xx"), ("garbage", "invalid")],
)
async def test_rasa_trouble_gives_the_fallback_within_the_deadline(
    make_gateway, rasa, mode, reason
):
    gw = await make_gateway(rasa_timeout=0.4)
    rasa.mode = mode
    started = time.monotonic()
    resp = await gw.chat({"message": "recommend a phone"})
    elapsed = time.monotonic() - started
    assert resp.status == 200
    assert await resp.json() == {
        "sender": "user_bargain",
        "messages": [{"text": TURN_FALLBACK_TEXT}],
        "fallback": True,
    }
    assert elapsed < 0.4 + 0.5
    assert len(rasa.calls) == 1
    assert f'gateway_fallbacks_total{{reason="{reason}"}} 1.0' in await gw.metrics()


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("rasa_apology", "rasa_deadline"),
        ("action_apology", "action_error"),
        ("odd_apology", "other"),
    ],
)
async def test_an_apology_rasa_passes_on_counts_as_a_fallback(make_gateway, rasa, mode, reason):
    """Rasa's channel and the action server mark their apologies (core/limits.py): the
    answer says fallback, the counter has its cause, and the marker does not reach the
    client (issue 17: the gateway missed every apology while Redis was down)."""
    gw = await make_gateway()
    rasa.mode = mode
    resp = await gw.chat({"message": "recommend a phone"})
    assert resp.status == 200
    body = await resp.json()
    assert body["fallback"] is True
    assert body["messages"] == [{"text": "Here is what I found:"}, {"text": "Sorry, no answer"}]
    assert f'gateway_fallbacks_total{{reason="{reason}"}} 1.0' in await gw.metrics()
    rasa.mode = "ok"
    assert (await (await gw.chat({"message": "hi"})).json())["fallback"] is False


async def test_rasa_down_gives_the_fallback(make_gateway, rasa):
    gw = await make_gateway(rasa_url=f"http://127.0.0.1:{free_port()}")
    resp = await gw.chat({"message": "hi"})
    assert resp.status == 200 and (await resp.json())["fallback"] is True
    assert 'gateway_fallbacks_total{reason="unreachable"} 1.0' in await gw.metrics()


async def test_rasa_4xx_is_a_generic_400(gw, rasa):
    rasa.mode = "reject"
    resp = await gw.chat({"message": "hi"})
    assert resp.status == 400
    text = await resp.text()
    assert "SECRET-RASA-DETAIL" not in text and "could not accept" in text


async def test_unexpected_exception_is_a_json_500_without_traceback(gw, rasa, caplog):
    class Exploding:
        async def send(self, *args):
            raise RuntimeError("secret internals /etc/passwd")

    gw.app[GATEWAY].rasa = Exploding()
    resp = await gw.chat({"message": "hi"})
    assert resp.status == 500
    assert await resp.json() == {"error": "internal error"}
    assert "unhandled error" in caplog.text and "secret internals" in caplog.text
    assert 'gateway_requests_total{route="/v1/chat",status="500"} 1.0' in await gw.metrics()
