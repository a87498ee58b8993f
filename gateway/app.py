"""Wiring: routes, the error-and-metrics middleware, and the shared Redis and HTTP clients."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web

from core.redis_clients import async_client, close_async
from gateway import handlers, privacy_routes
from gateway.auth import TokenIssuer, TokenVerifier
from gateway.config import GatewayConfig
from gateway.context import RegionTable
from gateway.errors import ApiError, json_error
from gateway.handlers import GATEWAY, Gateway
from gateway.metrics import GatewayMetrics
from gateway.openapi import build_openapi
from gateway.rasa_client import RasaClient
from gateway.ratelimit import RateLimiter
from gateway.static import static_file
from realtime.kafka import event_sink

logger = logging.getLogger(__name__)

UNMATCHED = "unmatched"
STATIC = "static"


def route_label(request: web.Request) -> str:
    """The matched route's template, so metrics never get one series per fuzzed URL."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def http_error(exc: web.HTTPException, method: str) -> web.Response:
    """An aiohttp HTTP exception (404, 405, ...) as a JSON error, keeping its Allow header."""
    headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
    if exc.status == 404:
        message = "not found; see /openapi.json for the API"
    elif exc.status == 405:
        message = f"method {method} not allowed here; use {headers.get('Allow', 'another')}"
    else:
        message = (exc.reason or "request failed").splitlines()[0][:200]
    return json_error(exc.status, message, headers)


@web.middleware
async def errors_and_metrics(request: web.Request, handler) -> web.StreamResponse:
    """Every answer is JSON on error, no traceback ever leaves, every request is counted."""
    gw = request.app[GATEWAY]
    started = time.perf_counter()
    route = route_label(request)
    response: web.StreamResponse
    try:
        path = None
        if route == UNMATCHED and request.method in ("GET", "HEAD"):
            path = static_file(gw.config.static_dir, request.path)
        if path is not None:
            route = STATIC
            response = web.FileResponse(path)
        else:
            response = await handler(request)
            response.headers.setdefault("Cache-Control", "no-store")
    except ApiError as exc:
        if exc.auth_reason:
            gw.metrics.auth_failures.labels(reason=exc.auth_reason).inc()
        response = exc.response()
    except web.HTTPException as exc:
        response = exc if exc.status < 400 else http_error(exc, request.method)
    except Exception:
        logger.exception("unhandled error in %s %s", request.method, route)
        response = json_error(500, "internal error")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    gw.metrics.requests.labels(route=route, status=str(response.status)).inc()
    gw.metrics.duration.labels(route=route).observe(time.perf_counter() - started)
    return response


def _client_ctx(redis_client: aioredis.Redis | None, http: aiohttp.ClientSession | None):
    """Create (or adopt injected) clients inside the running loop; close only what we made."""

    async def ctx(app: web.Application):
        gw = app[GATEWAY]
        config = gw.config
        timeouts = dict(
            socket_timeout=config.redis_timeout, socket_connect_timeout=config.redis_timeout
        )
        made = []
        if redis_client is None:
            gw.redis = async_client(config.redis_url, cluster=config.redis_cluster, **timeouts)
            made.append(gw.redis)
        else:
            gw.redis = redis_client
        gw.shared = gw.redis
        if config.redis_cluster and redis_client is None:
            gw.shared = async_client(config.shared_redis_url, cluster=False, **timeouts)
            made.append(gw.shared)
        gw.http = http or aiohttp.ClientSession()
        gw.limiter = RateLimiter(gw.shared, config.namespace, config.redis_timeout)
        gw.events = event_sink(config.stream_settings, gw.shared, config.stream)
        gw.rasa = RasaClient(gw.http, config.rasa_url, config.rasa_timeout, config.rasa_secret)
        yield
        await asyncio.to_thread(gw.events.close)
        if http is None:
            await gw.http.close()
        for client in made:
            await close_async(client)

    return ctx


def create_app(
    config: GatewayConfig,
    *,
    redis_client: aioredis.Redis | None = None,
    http_session: aiohttp.ClientSession | None = None,
    issuer: TokenIssuer | None = None,
) -> web.Application:
    """The gateway app. Redis and the Rasa HTTP session are made at start-up unless given."""
    app = web.Application(middlewares=[errors_and_metrics])
    if issuer is None and config.can_sign:
        issuer = TokenIssuer(config)
    app[GATEWAY] = Gateway(
        config=config,
        metrics=GatewayMetrics(),
        regions=RegionTable.from_csv(config.ip_regions_file),
        verifier=TokenVerifier(config),
        issuer=issuer,
        openapi=build_openapi(config),
    )
    app.cleanup_ctx.append(_client_ctx(redis_client, http_session))
    if config.can_sign:
        app.router.add_post("/oauth/token", handlers.token)
    app.router.add_post("/v1/chat", handlers.chat)
    app.router.add_post("/v1/events/purchase", handlers.purchase)
    app.router.add_post("/v1/events/cart", handlers.cart)
    app.router.add_get("/v1/me/data", privacy_routes.my_data)
    app.router.add_post("/v1/privacy/erase", privacy_routes.erase)
    if config.demo_login:
        app.router.add_post("/demo/login", handlers.demo_login)
    app.router.add_get("/health", handlers.health)
    app.router.add_get("/metrics", handlers.metrics)
    app.router.add_get("/openapi.json", handlers.openapi)
    return app
