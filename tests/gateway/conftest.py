"""Gateway fixtures: a stand-in for Rasa, gateway apps on real ports, tokens.

The Rasa stub is a tiny aiohttp server that records what the gateway forwards and can be
told to answer normally, slowly, with [], with 500 or with 400, so these tests run in
seconds; tests/test_e2e.py covers the real Rasa server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from core.limits import fallback_payload
from core.vouching import VOUCH_HEADER
from gateway.app import create_app
from gateway.auth import TokenIssuer
from gateway.config import Client, GatewayConfig, RateLimit, hash_secret

CRM_SECRET = "crm-secret-" + "x" * 20
GATEWAY_SECRET = "gateway-secret-" + "y" * 20  # vouches to Rasa (core/accounts.py)
BOTH_SECRET = "both-secret-" + "y" * 20


class RasaStub:
    """Records webhook calls; ``mode`` is ok / slow / empty / error / reject / garbage."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.mode = "ok"
        self.delay = 3.0
        self.vouches: list[str | None] = []  # the gateway-secret header of each call
        self.release = asyncio.Event()
        self.app = web.Application()
        self.app.router.add_post("/webhooks/rest/webhook", self.webhook)
        self.app.router.add_get("/", self.root)
        self.server = TestServer(self.app)

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def root(self, request: web.Request) -> web.Response:
        return web.Response(text="Hello from Rasa: 3.6.21")

    async def webhook(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.calls.append(body)
        self.vouches.append(request.headers.get(VOUCH_HEADER))
        if self.mode == "slow":
            try:
                await asyncio.wait_for(self.release.wait(), self.delay)
            except TimeoutError:
                pass
        if self.mode == "empty":
            return web.json_response([])
        if self.mode == "error":
            return web.json_response({"error": "boom"}, status=500)
        if self.mode == "reject":
            return web.json_response({"error": "SECRET-RASA-DETAIL"}, status=400)
        if self.mode == "garbage":
            return web.Response(text="<html>not json</html>")
        if self.mode == "buttons":  # quick replies, some malformed
            return web.json_response(
                [
                    {
                        "text": "pick one",
                        "buttons": [
                            {"title": "👍 Helpful", "payload": "/feedback_positive"},
                            {"title": "no slash", "payload": "feedback_positive"},
                            {"title": "", "payload": "/empty_title"},
                            {"title": "x" * 81, "payload": "/too_long_title"},
                            {"title": "bad", "payload": 7},
                            "not a button",
                        ],
                    },
                    {"text": "plain", "buttons": "nope"},
                ]
            )
        if self.mode in ("rasa_apology", "action_apology", "odd_apology"):
            source, reason = {
                "rasa_apology": ("rasa", "deadline"),
                "action_apology": ("action", "error"),
                "odd_apology": ("rasa", "x" * 50),  # unknown reason: label "other"
            }[self.mode]
            marker = fallback_payload(source, reason)
            return web.json_response(
                [
                    {"recipient_id": body["sender"], "text": "Here is what I found:"},
                    {"recipient_id": body["sender"], "text": "Sorry, no answer"},
                    {"recipient_id": body["sender"], "custom": marker},
                ]
            )
        if self.mode == "rich":  # cards beside the text, and payloads that are not ours
            cards = {"voltmart": 1, "type": "products", "title": "Phones", "products": []}
            return web.json_response(
                [
                    {"text": "Phones for you:", "buttons": [{"title": "A", "payload": "/a"}]},
                    {"custom": cards},
                    {"custom": {"type": "products"}},
                    {"custom": {"voltmart": 1, "type": "script"}},
                    {"custom": "not an object"},
                ]
            )
        text = f"echo: {body['message']}"
        return web.json_response(
            [{"recipient_id": body["sender"], "text": text}, {"recipient_id": body["sender"]}]
        )


@pytest.fixture
async def rasa() -> AsyncIterator[RasaStub]:
    stub = RasaStub()
    await stub.server.start_server()
    yield stub
    stub.release.set()
    await stub.server.close()


def base_config(redis_url: str, rasa_url: str, **overrides: Any) -> GatewayConfig:
    namespace = f"g{uuid.uuid4().hex[:10]}"
    config = GatewayConfig(
        jwt_secret=secrets.token_bytes(32),
        clients={
            "crm": Client("crm", hash_secret(CRM_SECRET), frozenset({"ingest"})),
            "both": Client("both", hash_secret(BOTH_SECRET), frozenset({"chat", "ingest"})),
        },
        redis_url=redis_url,
        namespace=namespace,
        stream=f"{namespace}:events",
        rasa_url=rasa_url,
        rasa_timeout=1.0,
        address_rate=RateLimit(1000, 10),
        user_rate=RateLimit(1000, 10),
        demo_login=True,
        rasa_secret=GATEWAY_SECRET,
    )
    return replace(config, **overrides)


class Gateway:
    """A running gateway app, its HTTP client and a token helper."""

    def __init__(self, config: GatewayConfig, client: TestClient) -> None:
        self.config = config
        self.client = client
        self.app = client.app

    def token(
        self,
        sub: str = "user_bargain",
        scopes=("chat",),
        clock: Callable[[], float] = time.time,
        **config_overrides: Any,
    ) -> str:
        """A token from this gateway's issuer, or from one configured with ``config_overrides``."""
        config = replace(self.config, **config_overrides) if config_overrides else self.config
        return TokenIssuer(config, clock=clock).issue(sub, set(scopes))[0]

    def bearer(self, sub: str = "user_bargain", scopes=("chat",)) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(sub, scopes)}"}

    async def chat(self, body: Any, headers: dict[str, str] | None = None, sub="user_bargain"):
        all_headers = {**self.bearer(sub), **(headers or {})}
        return await self.client.post("/v1/chat", json=body, headers=all_headers)

    async def metrics(self) -> str:
        resp = await self.client.get("/metrics")
        return await resp.text()


@pytest.fixture
async def make_gateway(redis_url, rasa) -> AsyncIterator[Callable[..., Any]]:
    """make_gateway(**config overrides) -> a started Gateway; cleaned up with its Redis keys."""
    started: list[Gateway] = []

    async def make(config: GatewayConfig | None = None, **overrides: Any) -> Gateway:
        redis_at, rasa_at = (
            overrides.pop("redis_url", redis_url),
            overrides.pop("rasa_url", rasa.url),
        )
        config = config or base_config(redis_at, rasa_at, **overrides)
        client = TestClient(TestServer(create_app(config)))
        await client.start_server()
        gateway = Gateway(config, client)
        started.append(gateway)
        return gateway

    yield make
    redis = aioredis.Redis.from_url(redis_url)
    for gateway in started:
        await gateway.client.close()
        async for key in redis.scan_iter(match=f"{gateway.config.namespace}:*"):
            await redis.unlink(key)
    await redis.close()


@pytest.fixture
async def gw(make_gateway) -> Gateway:
    return await make_gateway()


@pytest.fixture(scope="session")
def rsa_keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """Two RSA keys: the gateway's and an attacker's (or a rotated-out one)."""
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A JWT assembled by hand (PyJWT refuses to make the malicious ones)."""
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(claims).encode())
    return f"{head}.{body}.{b64url(signature)}"


def standard_claims(config: GatewayConfig, sub: str = "user_bargain", **extra: Any) -> dict:
    now = int(time.time())
    return {
        "iss": config.jwt_issuer,
        "aud": config.jwt_audience,
        "sub": sub,
        "iat": now,
        "exp": now + 600,
        "scope": "chat",
        **extra,
    }
