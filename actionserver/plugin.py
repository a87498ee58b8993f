"""Plain `rasa run actions` serves the hardened action server too (issue 17).

rasa-sdk builds its own Sanic app (every interface, no secret, no body limit, no
deadlines, errors that echo the request) and then calls the ``attach_sanic_app_extensions``
hook of the package ``rasa_sdk_plugins`` (the top-level package of that name here). This
hook puts the hardened endpoints (actionserver/app.py, ``Endpoints``) in front of
rasa-sdk's routes: a request middleware answers /health, /actions, /metrics and /webhook, so
rasa-sdk's handlers never run, and the error handler is ours. What it cannot change, it
refuses: rasa-sdk reads the host after the hook, so a non-loopback ``SANIC_HOST`` (its
default is every interface) stops the start with one line, unless
``PZ_ACTION_ALLOW_REMOTE=1``. The actions come from the package ``actions``, with their
services built once, as under ``voltmart-actions``.
"""

from __future__ import annotations

import logging

import pluggy
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from actionserver.app import Endpoints
from actionserver.secret import action_secret
from actionserver.startup import is_loopback, start_services
from core.settings import Settings

logger = logging.getLogger(__name__)
hookimpl = pluggy.HookimplMarker("rasa_sdk")
ACTION_PACKAGE = "actions"


class UnhardenedStart(SystemExit):
    """`rasa run actions` would run without what the hook cannot add."""


def hardened_endpoints(settings: Settings) -> Endpoints:
    """The endpoints for `rasa run actions`; UnhardenedStart (one line) when the host is
    not loopback or the configuration is broken."""
    host = settings.action_server.sanic_host
    if not is_loopback(host) and not settings.action_server.allow_remote:
        raise UnhardenedStart(
            f"Error: `rasa run actions` would listen on {host} (SANIC_HOST, rasa-sdk's "
            "default is every interface): set SANIC_HOST=127.0.0.1, or "
            "PZ_ACTION_ALLOW_REMOTE=1 with TLS in front of it"
        )
    try:
        secret = action_secret(settings.action_server, settings.paths.secrets_dir)
        services = start_services(settings)
        return Endpoints.build(
            ACTION_PACKAGE,
            secret,
            settings.deadlines.action_s,
            settings.action_server.max_body_bytes,
            services,
        )
    except (ValueError, OSError) as exc:  # SecretError, SettingsError, CatalogueError, ...
        raise UnhardenedStart(f"Error: {exc}") from exc


def harden(app: Sanic, endpoints: Endpoints) -> None:
    """Answer rasa-sdk's three routes with ours, and every error with a small JSON body.
    rasa-sdk's /webhook is not a streaming route, so Sanic has read the body (up to its own
    limit) before the token is checked; the hardened server checks the token first."""

    routes = endpoints.get_routes()

    async def intercept(request: Request) -> HTTPResponse | None:
        path, method = request.path.rstrip("/") or "/", request.method
        handler = routes.get(path) if method == "GET" else None
        if handler is not None:
            return await handler(request)
        if path != "/webhook" or method != "POST":
            return None  # rasa-sdk's 404 / 405, through our error handler
        refused = endpoints.unauthorized(request)
        if refused is not None:
            return refused
        if len(request.body) > endpoints.max_body:  # rasa-sdk's route has read it all
            return endpoints.refused("request body too large", 413)
        return await endpoints.webhook(request, request.body)

    app.register_middleware(intercept, "request")
    app.error_handler.add(Exception, endpoints.on_error)
    endpoints.attach_services(app)


@hookimpl
def attach_sanic_app_extensions(app: Sanic) -> None:
    endpoints = hardened_endpoints(Settings.from_env())
    harden(app, endpoints)
    logger.info(
        "rasa run actions: hardened (token required, deadline %.0f ms, body limit %d bytes)",
        endpoints.runner.deadline_s * 1000,
        endpoints.max_body,
    )
