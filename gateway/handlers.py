"""Route handlers. Each reads its dependencies from the app's Gateway state and raises
ApiError for every refusal; the middleware in gateway/app.py turns those into JSON.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from redis.exceptions import RedisError

from core.demo import DEMO_SENDERS
from core.vouching import ACCOUNT_KEY, account_for_subject
from gateway.auth import (
    Principal,
    TokenIssuer,
    TokenVerifier,
    bearer_token,
    grant_client_credentials,
    require_scope,
)
from gateway.bodies import (
    FORM,
    JSON,
    parse_cart,
    parse_chat,
    parse_json_object,
    parse_login,
    parse_purchase,
    parse_token_request,
    read_body,
    require_content_type,
)
from gateway.config import GatewayConfig, RateLimit
from gateway.context import RegionTable, client_address, enrich
from gateway.errors import ApiError
from gateway.metrics import CONTENT_TYPE, GatewayMetrics
from gateway.rasa_client import RasaClient, RasaRejected
from gateway.ratelimit import RateLimiter
from privacy.keyring import Keyring
from realtime.kafka import KafkaUnavailable
from realtime.stream import cart_event, purchase_event

logger = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@dataclass
class Gateway:
    """Everything the handlers need; Redis, the limiter and Rasa are set at start-up."""

    config: GatewayConfig
    metrics: GatewayMetrics
    regions: RegionTable
    verifier: TokenVerifier
    issuer: TokenIssuer | None
    openapi: dict
    redis: aioredis.Redis | None = None  # the user stores (a cluster client on a cluster)
    shared: aioredis.Redis | None = None  # stream, rate limits: `redis` or the standalone one
    limiter: RateLimiter | None = None
    rasa: RasaClient | None = None
    http: aiohttp.ClientSession | None = None
    keyring: Keyring | None = None  # privacy keys, loaded on first use (privacy_routes.py)
    events: Any = None  # where ingested events go: RedisStreamSink or KafkaSink


GATEWAY = web.AppKey("gateway", Gateway)


async def enforce(gw: Gateway, scope: str, ident: str, rule: RateLimit) -> None:
    """429 with Retry-After when (scope, ident) is over its limit."""
    assert gw.limiter is not None
    decision = await gw.limiter.hit(scope, ident, rule)
    if decision.failed_open:
        gw.metrics.rate_limit_failopen.labels(scope=scope).inc()
    if not decision.allowed:
        gw.metrics.rate_limited.labels(scope=scope).inc()
        raise ApiError(
            429,
            f"too many requests; retry in {decision.retry_after} s",
            {"Retry-After": str(decision.retry_after)},
        )


def address_of(request: web.Request, gw: Gateway) -> str:
    return client_address(
        request.remote, request.headers.get("X-Forwarded-For"), gw.config.trusted_proxies
    )


def authenticate(request: web.Request, gw: Gateway, scope: str) -> Principal:
    principal = gw.verifier.verify(bearer_token(request.headers.get("Authorization")))
    require_scope(principal, scope)
    return principal


async def json_body(request: web.Request, gw: Gateway) -> dict:
    require_content_type(request, (JSON,))
    return parse_json_object(await read_body(request, gw.config.max_body_bytes))


async def token(request: web.Request) -> web.Response:
    """POST /oauth/token: OAuth2 client credentials -> a signed access token."""
    gw = request.app[GATEWAY]
    assert gw.issuer is not None
    await enforce(gw, "address", address_of(request, gw), gw.config.address_rate)
    media_type = require_content_type(request, (FORM, JSON))
    fields = parse_token_request(await read_body(request, gw.config.max_body_bytes), media_type)
    client, scopes = grant_client_credentials(
        fields, request.headers.get("Authorization"), gw.config.clients
    )
    access_token, ttl = gw.issuer.issue(client.client_id, scopes)
    body = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": " ".join(sorted(scopes)),
    }
    return web.json_response(body, headers=NO_STORE)


async def chat(request: web.Request) -> web.Response:
    """POST /v1/chat: one turn for the token's subject, enriched and forwarded to Rasa."""
    gw = request.app[GATEWAY]
    assert gw.rasa is not None
    config = gw.config
    address = address_of(request, gw)
    await enforce(gw, "address", address, config.address_rate)
    principal = authenticate(request, gw, "chat")
    await enforce(gw, "user", principal.sub, config.user_rate)
    turn = parse_chat(await json_body(request, gw), config.max_message_chars)
    if turn.sender is not None and turn.sender != principal.sub:
        raise ApiError(403, "'sender' must be your own id (the token's subject); omit it")
    # The gateway's own context wins over anything the client put under the same keys.
    metadata = {
        **turn.metadata,
        **enrich(request.headers, address, gw.regions),
        ACCOUNT_KEY: account_for_subject(principal.sub),  # the token vouches, not the client
    }
    gw.metrics.segment_lookups.inc()
    try:
        reply = await gw.rasa.send(principal.sub, turn.message, metadata)
    except RasaRejected as exc:
        logger.info("Rasa refused a message from %r with %s", principal.sub[:64], exc.status)
        raise ApiError(400, "the assistant could not accept this message") from None
    if reply.fallback_reason:
        gw.metrics.fallbacks.labels(reason=reply.fallback_reason).inc()
    return web.json_response(
        {"sender": principal.sub, "messages": reply.messages, "fallback": reply.fallback}
    )


async def _ingest(
    request: web.Request, what: str, to_event: Callable[[dict], dict]
) -> web.Response:
    """A CRM event onto the stream (202 with its id); `to_event` turns the body into it."""
    gw = request.app[GATEWAY]
    config = gw.config
    principal = authenticate(request, gw, "ingest")
    # CRM callers send bursts from few addresses: limited per client, not per address.
    await enforce(gw, "ingest", principal.sub, config.ingest_rate)
    event = to_event(await json_body(request, gw))
    try:
        async with asyncio.timeout(max(config.redis_timeout, config.ingest_timeout)):
            event_id = await gw.events.publish(event)
    except (RedisError, OSError, TimeoutError, KafkaUnavailable) as exc:
        logger.warning("%s not stored, event store unavailable: %r", what, exc)
        raise ApiError(
            503, "event store unavailable; retry shortly", {"Retry-After": "1"}
        ) from None
    return web.json_response({"event_id": event_id}, status=202)


def _purchase_event(body: dict) -> dict:
    bought = parse_purchase(body)
    return purchase_event(
        bought.user_id, bought.amount, bought.category, bought.timestamp, bought.order_id
    )


def _cart_event(body: dict) -> dict:
    added = parse_cart(body)
    return cart_event(added.user_id, added.product, added.category, added.quantity, added.timestamp)


async def purchase(request: web.Request) -> web.Response:
    """POST /v1/events/purchase: a CRM purchase onto the event stream."""
    return await _ingest(request, "purchase", _purchase_event)


async def cart(request: web.Request) -> web.Response:
    """POST /v1/events/cart: an add-to-cart onto the event stream, like a purchase."""
    return await _ingest(request, "add-to-cart", _cart_event)


async def demo_login(request: web.Request) -> web.Response:
    """POST /demo/login: a chat token for a persona's demo user (demo deployments only)."""
    gw = request.app[GATEWAY]
    assert gw.issuer is not None
    await enforce(gw, "address", address_of(request, gw), gw.config.address_rate)
    persona = parse_login(await json_body(request, gw))
    sender = DEMO_SENDERS.get(persona) or f"guest_{secrets.token_hex(8)}"
    access_token, ttl = gw.issuer.issue(sender, {"chat"})
    body = {"access_token": access_token, "sender": sender, "persona": persona, "expires_in": ttl}
    return web.json_response(body, headers=NO_STORE)


async def _redis_ok(gw: Gateway) -> bool:
    try:
        async with asyncio.timeout(max(gw.config.redis_timeout, 0.5)):
            return bool(await gw.redis.ping())
    except (RedisError, OSError, TimeoutError):
        return False


async def health(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    assert gw.rasa is not None
    redis_ok, rasa_ok = await asyncio.gather(_redis_ok(gw), gw.rasa.healthy())
    return web.json_response({"status": "ok", "redis": redis_ok, "rasa": rasa_ok})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[GATEWAY].metrics.render().encode()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[GATEWAY].openapi)
