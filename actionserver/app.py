"""The action server's Sanic app: routes, the executor with the actions, JSON-only errors."""

from __future__ import annotations

import importlib
import inspect
import itertools
import logging
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from rasa_sdk import Action, utils
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from actionserver.calls import BadCall, clip, decoded, parse_call, read_body, tracker_of
from actionserver.running import ActionRunner, Counters, dumps
from actionserver.secret import MIN_SECRET_CHARS, TOKEN_HEADER, SecretError, authorized
from core.settings import ActionServerSettings, Deadlines
from personalization.services import Services

logger = logging.getLogger(__name__)

UNAUTHORIZED = {"error": f"missing or wrong {TOKEN_HEADER}"}
_app_numbers = itertools.count(1)  # Sanic app names must be unique within a process


def _json(body: Any, status: int = 200) -> HTTPResponse:
    return response.json(body, status=status, dumps=dumps)


def package_executor(package: str, services: Services | None = None) -> ActionExecutor:
    """An executor with the actions defined in ``package`` and its submodules, each created
    once and given ``services`` when its constructor takes them.

    rasa-sdk's ``register_package`` registers every Action subclass imported anywhere in
    the process; a process that builds more than one app (tests) needs them kept apart.
    """
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), f"{package}."):
        importlib.import_module(info.name)
    executor = ActionExecutor()
    for cls in utils.all_subclasses(Action):
        in_package = cls.__module__ == package or cls.__module__.startswith(f"{package}.")
        if not in_package or inspect.isabstract(cls):
            continue
        takes_services = "services" in inspect.signature(cls).parameters
        executor.register_action(cls(services) if takes_services and services else cls)
    return executor


@dataclass
class Endpoints:
    """The hardened answers to /health, /actions, /metrics and /webhook, and to every error;
    served as routes by create_server_app and, under plain `rasa run actions`, in front of
    rasa-sdk's own routes by actionserver/plugin.py."""

    runner: ActionRunner
    token: bytes
    max_body: int
    services: Services | None = None

    @classmethod
    def build(
        cls,
        action_package: str,
        secret: str,
        deadline_s: float = Deadlines.action_s,
        max_body: int = ActionServerSettings.max_body_bytes,
        services: Services | None = None,
    ) -> Endpoints:
        if len(secret) < MIN_SECRET_CHARS:
            raise SecretError(f"the action secret must have at least {MIN_SECRET_CHARS} characters")
        if deadline_s <= 0:
            raise ValueError("deadline_s must be positive")
        runner = ActionRunner(package_executor(action_package, services), deadline_s)
        generator = services.generator if services is not None else None
        if generator is not None:
            runner.metrics.watch_generator(lambda: generator.outcomes)
        return cls(runner, secret.encode("utf-8"), max_body, services)

    @property
    def counters(self) -> Counters:
        return self.runner.counters

    def refused(self, message: str, status: int, reason: str = "", **detail: str) -> HTTPResponse:
        """A refused request, counted (by ``reason``, else its status) and answered."""
        self.counters.bad_requests += 1
        self.runner.metrics.refused.labels(reason=reason or f"status_{status}").inc()
        return _json({"error": message, **detail}, status)

    def unauthorized(self, request: Request) -> HTTPResponse | None:
        if authorized(request, self.token):
            return None
        self.counters.unauthorized += 1
        self.runner.metrics.refused.labels(reason="unauthorized").inc()
        return _json(UNAUTHORIZED, 401)

    def get_routes(self) -> dict[str, Callable[[Request], Awaitable[HTTPResponse]]]:
        """The GET routes, by path (/webhook takes the body its caller read)."""
        return {"/health": self.health, "/actions": self.actions, "/metrics": self.metrics}

    async def metrics(self, _: Request) -> HTTPResponse:
        return response.raw(self.runner.metrics.render(), content_type=CONTENT_TYPE_LATEST)

    async def health(self, _: Request) -> HTTPResponse:
        body: dict = {"status": "ok", **self.counters.as_dict()}
        generator = self.services.generator if self.services is not None else None
        if generator is not None:  # why answers were or were not written by the model
            body["generator"] = dict(generator.outcomes)
        return _json(body)

    async def actions(self, request: Request) -> HTTPResponse:
        refused = self.unauthorized(request)
        if refused is not None:
            return refused
        return _json([{"name": name} for name in self.runner.executor.actions])

    async def webhook(self, request: Request, body: bytes) -> HTTPResponse:
        """One action call; the caller has checked the token and read at most max_body."""
        executor = self.runner.executor
        try:
            call = parse_call(decoded(body, request.headers, self.max_body))
            name = call["next_action"]
            if name not in executor.actions:
                logger.warning("unknown action requested: %r", clip(name, 60))
                return self.refused("unknown action", 404, "unknown_action", action_name=clip(name))
            tracker = tracker_of(call)
            domain = call.get("domain") or {}
            if not isinstance(domain, dict):
                raise BadCall("domain must be a JSON object")
        except BadCall as exc:
            logger.warning("rejected an action call: %s", exc)
            return self.refused(str(exc), exc.status)
        if isinstance(call.get("version"), str):
            utils.check_version_compatibility(call["version"])
        result, status = await self.runner.run(name, tracker, domain)
        return response.text(result, status=status, content_type="application/json")

    async def on_error(self, request: Request | None, exc: Exception) -> HTTPResponse:
        """Small fixed bodies only: Sanic's messages quote the path, rasa-sdk's the body."""
        if isinstance(exc, SanicException):
            status = exc.status_code
        elif request is None or getattr(request, "route", None) is None:
            status = 400  # failed before routing: a malformed HTTP request
        else:
            self.counters.errors += 1
            logger.error("internal error handling %s", request.path[:100], exc_info=exc)
            return _json({"error": "internal error"}, 500)
        try:
            phrase = HTTPStatus(status).phrase.lower()
        except ValueError:
            phrase = "request failed"
        return self.refused(phrase, status)

    def attach_services(self, app: Sanic) -> None:
        if self.services is None:
            return
        services = self.services

        @app.after_server_start
        async def warm_up(app_: Sanic, *_: Any) -> None:  # in the background: listen at once
            app_.add_task(services.responder.warm_up())

        @app.after_server_stop
        async def close_services(*_: Any) -> None:
            await services.close()


def create_server_app(
    action_package: str,
    secret: str,
    deadline_s: float = Deadlines.action_s,
    max_body: int = ActionServerSettings.max_body_bytes,
    services: Services | None = None,
) -> Sanic:
    """The action server for ``action_package`` (every Action subclass rasa-sdk finds)."""
    endpoints = Endpoints.build(action_package, secret, deadline_s, max_body, services)
    app = Sanic(f"voltmart_actions_{next(_app_numbers)}", configure_logging=False)
    # Sanic drains an unread body (after a 401 or 413) up to this size, then disconnects.
    app.config.REQUEST_MAX_SIZE = max_body
    app.ctx.runner = endpoints.runner
    for path, handler in endpoints.get_routes().items():
        app.add_route(handler, path, methods=["GET"])

    # stream=True: the handler runs before the body is read, so the token is checked first.
    @app.post("/webhook", stream=True)
    async def webhook(request: Request) -> HTTPResponse:
        refused = endpoints.unauthorized(request)
        if refused is not None:
            return refused
        try:
            body = await read_body(request, max_body)
        except BadCall as exc:
            logger.warning("rejected an action call: %s", exc)
            return endpoints.refused(str(exc), exc.status)
        return await endpoints.webhook(request, body)

    app.error_handler.add(Exception, endpoints.on_error)
    endpoints.attach_services(app)
    return app
