"""python -m actions.server [--host 127.0.0.1] [--port 5055]: the hardened action server.

rasa-sdk's Sanic app (``rasa run actions``) with four changes:

* loopback only, unless ``--allow-remote``;
* ``/webhook`` and ``/actions`` answer only requests whose ``X-PZ-Action-Token`` header
  equals the shared secret (``PZ_ACTION_SECRET``, else the file ``PZ_ACTION_SECRET_FILE``
  names, else var/secrets/action_secret created once); ``/health`` stays open;
* every error is a small JSON body that never echoes the request (rasa-sdk 3.6 returns
  the whole tracker in some), and bodies over ``PZ_ACTION_MAX_BODY_BYTES`` get a 413;
* each action has ``PZ_ACTION_DEADLINE_MS``: a slow or failing action is cancelled and
  answered with a short apology, counted in ``GET /health``.

Rasa sends the secret through endpoints.yml (unquoted, or Rasa does not substitute it)::

    action_endpoint:
      url: "http://127.0.0.1:5055/webhook"
      headers:
        X-PZ-Action-Token: ${PZ_ACTION_SECRET}

rasa-sdk imports every module of the ``actions`` package, this one included, so importing
it must do nothing but define things.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import importlib
import inspect
import ipaddress
import itertools
import json
import logging
import os
import pkgutil
import secrets
import sys
import zlib
from collections.abc import Mapping
from functools import partial
from http import HTTPStatus
from pathlib import Path
from typing import Any

from rasa_sdk import Action, Tracker, utils
from rasa_sdk.executor import ActionExecutor, CollectingDispatcher
from rasa_sdk.interfaces import ActionExecutionRejection
from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from gateway.bootstrap import _write_private

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
TOKEN_HEADER = "X-PZ-Action-Token"
SECRET_FILE_NAME = "action_secret"
MIN_SECRET_CHARS = 16
DEFAULT_PORT = 5055
DEFAULT_DEADLINE_MS = 1800  # under Rasa's 2.0 s action timeout (rasa_ext/deadlines.py)
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
FALLBACK_TEXT = "Sorry, I couldn't get that answer ready just now. Could you ask me again?"
UNAUTHORIZED = {"error": f"missing or wrong {TOKEN_HEADER}"}

# Process-wide, shown by GET /health: how often a user got the apology instead of an answer.
COUNTERS: dict[str, int] = {
    "deadline_fallbacks": 0,
    "errors": 0,
    "unauthorized": 0,
    "bad_requests": 0,
}

_dumps = partial(json.dumps, separators=(",", ":"))  # ASCII output: lone surrogates are safe
_app_numbers = itertools.count(1)
_running: set[asyncio.Task] = set()  # cancelled actions still unwinding


class SecretError(ValueError):
    """The shared secret is missing, unreadable or too short."""


class BadCall(ValueError):
    """The request is not an action call; the message is safe to return (no request data)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------- configuration


def action_secret_path(env: Mapping[str, str], secrets_dir: Path) -> Path | None:
    """The file holding the secret (the dev one is created once, mode 600); None if the
    secret is in PZ_ACTION_SECRET itself."""
    if env.get("PZ_ACTION_SECRET", "").strip():
        return None
    named = env.get("PZ_ACTION_SECRET_FILE", "").strip()
    if named:
        return Path(named)
    secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = secrets_dir / SECRET_FILE_NAME
    if _write_private(path, secrets.token_hex(32)):
        logger.info("created the action server's shared secret %s", path)
    return path


def action_secret(env: Mapping[str, str], secrets_dir: Path) -> str:
    """PZ_ACTION_SECRET, else the file PZ_ACTION_SECRET_FILE names, else
    ``secrets_dir/action_secret`` (created once: development only)."""
    path = action_secret_path(env, secrets_dir)
    if path is None:
        value, source = env["PZ_ACTION_SECRET"].strip(), "PZ_ACTION_SECRET"
    else:
        source = str(path)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SecretError(f"cannot read the action secret from {path} ({exc})") from None
    if len(value) < MIN_SECRET_CHARS:
        raise SecretError(
            f"the action secret in {source} is shorter than {MIN_SECRET_CHARS} characters; "
            "use a long random value (e.g. `openssl rand -hex 32`)"
        )
    if "$" in value or not value.isprintable():
        raise SecretError(
            f"the action secret in {source} must be printable and contain no '$' "
            "(Rasa expands ${...} in endpoints.yml)"
        )
    return value


def _int_env(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None
    if not low <= value <= high:
        raise ValueError(f"{name}={raw!r} must be between {low} and {high}")
    return value


def deadline_seconds(env: Mapping[str, str]) -> float:
    return _int_env(env, "PZ_ACTION_DEADLINE_MS", DEFAULT_DEADLINE_MS, 1, 60_000) / 1000


def max_body_bytes(env: Mapping[str, str]) -> int:
    return _int_env(env, "PZ_ACTION_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1024, 64 << 20)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------- responses


def _json(body: Any, status: int = 200) -> HTTPResponse:
    return response.json(body, status=status, dumps=_dumps)


def _error(message: str, status: int, counter: str = "bad_requests") -> HTTPResponse:
    COUNTERS[counter] += 1
    return _json({"error": message}, status)


def _clip(value: Any, limit: int = 100) -> str:
    """Request-derived text we must return (an action name), bounded and encodable."""
    return str(value)[:limit].encode("utf-8", "replace").decode("utf-8")


def fallback_result() -> dict[str, Any]:
    """The answer when an action is too slow or fails: an apology and no events."""
    dispatcher = CollectingDispatcher()
    dispatcher.utter_message(text=FALLBACK_TEXT)
    return {"events": [], "responses": dispatcher.messages}


# ---------------------------------------------------------------- request handling


def _authorized(request: Request, secret: bytes) -> bool:
    given = request.headers.get(TOKEN_HEADER)
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), secret)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, at most ``limit`` bytes (decompressed if deflated); BadCall otherwise."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadCall("request body too large", 413)
    chunks, size = [], 0
    while (chunk := await request.stream.read()) is not None:
        size += len(chunk)
        if size > limit:
            raise BadCall("request body too large", 413)
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding == "deflate":  # Rasa with COMPRESS_ACTION_SERVER_REQUEST=true
        inflater = zlib.decompressobj()
        try:
            body = inflater.decompress(body, limit + 1)
        except zlib.error:
            raise BadCall("request body is not valid deflate data") from None
        if len(body) > limit or inflater.unconsumed_tail:
            raise BadCall("request body too large", 413)
    elif encoding != "identity":
        raise BadCall("unsupported Content-Encoding", 415)
    return body


def _parse_call(body: bytes) -> dict[str, Any]:
    try:
        call = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadCall("request body is not UTF-8") from None
    except (ValueError, RecursionError):
        raise BadCall("request body is not valid JSON") from None
    if not isinstance(call, dict):
        raise BadCall("request body must be a JSON object")
    name = call.get("next_action")
    if not isinstance(name, str) or not name:
        raise BadCall("next_action must be a non-empty string")
    return call


# Field -> allowed JSON types, for the tracker fields rasa-sdk's Tracker reads.
_TRACKER_FIELDS: dict[str, tuple[type, ...]] = {
    "slots": (dict,),
    "latest_message": (dict, type(None)),
    "events": (list,),
    "paused": (bool,),
    "followup_action": (str, type(None)),
    "active_loop": (dict, type(None)),
    "active_form": (dict, type(None)),
    "latest_action_name": (str, type(None)),
}


def _tracker(call: dict[str, Any]) -> Tracker:
    state = call.get("tracker")
    if not isinstance(state, dict):
        raise BadCall("tracker must be a JSON object")
    if not isinstance(state.get("sender_id"), str):
        raise BadCall("tracker.sender_id must be a string")
    for field, types in _TRACKER_FIELDS.items():
        if field in state and not isinstance(state[field], types):
            raise BadCall(f"tracker.{field} has the wrong type")
    if not all(isinstance(event, dict) for event in state.get("events", [])):
        raise BadCall("tracker.events must be a list of objects")
    state = dict(state)
    state["active_loop"] = state.get("active_loop") or state.get("active_form") or {}
    return Tracker.from_dict(state)


async def _run_action(
    executor: ActionExecutor, name: str, tracker: Tracker, domain: dict[str, Any]
) -> dict[str, Any]:
    dispatcher = CollectingDispatcher()
    events = await utils.call_potential_coroutine(
        executor.actions[name](dispatcher, tracker, domain)
    )
    validated = executor.validate_events(events or [], name)
    return {"events": validated, "responses": dispatcher.messages}


def _reap(task: asyncio.Task) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.warning("a cancelled action ended with %r", task.exception())


async def _within_deadline(
    executor: ActionExecutor,
    name: str,
    tracker: Tracker,
    domain: dict[str, Any],
    deadline_s: float,
) -> HTTPResponse:
    task = asyncio.ensure_future(_run_action(executor, name, tracker, domain))
    try:
        done, _ = await asyncio.wait({task}, timeout=deadline_s)
    except asyncio.CancelledError:  # Rasa hung up: stop the action too
        task.cancel()
        raise
    if not done:
        # Cancel without waiting: an action that swallows CancelledError must not hold
        # the answer back.
        task.cancel()
        _running.add(task)
        task.add_done_callback(_reap)
        COUNTERS["deadline_fallbacks"] += 1
        logger.warning(
            "action %s passed its %.0f ms deadline; cancelled, answered with the fallback",
            name,
            deadline_s * 1000,
        )
        return _json(fallback_result())
    try:
        result = task.result()
        return _json(result)  # serialise here: unserialisable events are the action's fault
    except ActionExecutionRejection as exc:  # Rasa reads this shape (RemoteAction.run)
        logger.info("action %s rejected its execution", name)
        body = {"error": _clip(exc.message, 200), "action_name": _clip(exc.action_name)}
        return _json(body, 400)
    except Exception:
        COUNTERS["errors"] += 1
        logger.exception("action %s failed; answered with the fallback", name)
        return _json(fallback_result())


# ---------------------------------------------------------------- the app


def package_executor(package: str) -> ActionExecutor:
    """An executor with the actions defined in ``package`` and its submodules.

    rasa-sdk's ``register_package`` registers every Action subclass imported anywhere in
    the process; a process that builds more than one app (tests) needs them kept apart.
    """
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), f"{package}."):
        importlib.import_module(info.name)
    executor = ActionExecutor()
    for cls in utils.all_subclasses(Action):
        in_package = cls.__module__ == package or cls.__module__.startswith(f"{package}.")
        if in_package and not inspect.isabstract(cls):
            executor.register_action(cls)
    return executor


def create_server_app(
    action_package: str,
    secret: str,
    deadline_s: float = DEFAULT_DEADLINE_MS / 1000,
    max_body: int = DEFAULT_MAX_BODY_BYTES,
) -> Sanic:
    """The action server for ``action_package`` (every Action subclass rasa-sdk finds)."""
    if len(secret) < MIN_SECRET_CHARS:
        raise SecretError(f"the action secret must have at least {MIN_SECRET_CHARS} characters")
    if deadline_s <= 0:
        raise ValueError("deadline_s must be positive")
    app = Sanic(f"voltmart_actions_{next(_app_numbers)}", configure_logging=False)
    # Sanic drains an unread body (after a 401 or 413) up to this size, then disconnects.
    app.config.REQUEST_MAX_SIZE = max_body
    executor = package_executor(action_package)
    token = secret.encode("utf-8")

    @app.get("/health")
    async def health(_: Request) -> HTTPResponse:
        return _json({"status": "ok", **COUNTERS})

    @app.get("/actions")
    async def actions(request: Request) -> HTTPResponse:
        if not _authorized(request, token):
            COUNTERS["unauthorized"] += 1
            return _json(UNAUTHORIZED, 401)
        return _json([{"name": name} for name in executor.actions])

    # stream=True: the handler runs before the body is read, so the token is checked first.
    @app.post("/webhook", stream=True)
    async def webhook(request: Request) -> HTTPResponse:
        if not _authorized(request, token):
            COUNTERS["unauthorized"] += 1
            return _json(UNAUTHORIZED, 401)
        try:
            call = _parse_call(await _read_body(request, max_body))
            name = call["next_action"]
            if name not in executor.actions:
                COUNTERS["bad_requests"] += 1
                logger.warning("unknown action requested: %r", _clip(name, 60))
                return _json({"error": "unknown action", "action_name": _clip(name)}, 404)
            tracker = _tracker(call)
            domain = call.get("domain") or {}
            if not isinstance(domain, dict):
                raise BadCall("domain must be a JSON object")
        except BadCall as exc:
            logger.warning("rejected an action call: %s", exc)
            return _error(str(exc), exc.status)
        if isinstance(call.get("version"), str):
            utils.check_version_compatibility(call["version"])
        return await _within_deadline(executor, name, tracker, domain, deadline_s)

    @app.exception(Exception)
    async def on_error(request: Request | None, exc: Exception) -> HTTPResponse:
        """Small fixed bodies only: Sanic's messages quote the path, rasa-sdk's the body."""
        if isinstance(exc, SanicException):
            status = exc.status_code
        elif request is None or getattr(request, "route", None) is None:
            status = 400  # failed before routing: a malformed HTTP request
        else:
            COUNTERS["errors"] += 1
            logger.error("internal error handling %s", request.path[:100], exc_info=exc)
            return _json({"error": "internal error"}, 500)
        try:
            phrase = HTTPStatus(status).phrase.lower()
        except ValueError:
            phrase = "request failed"
        return _error(phrase, status)

    return app


# ---------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m actions.server",
        description="Voltmart action server: loopback, shared secret, per-action deadline.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="default: 5055")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (put TLS in front of it)",
    )
    parser.add_argument("--actions", default="actions", help="action package (default: actions)")
    parser.add_argument(
        "--secrets-dir",
        type=Path,
        default=ROOT / "var" / "secrets",
        help="where the development secret is created when none is configured",
    )
    parser.add_argument(
        "--print-secret-path",
        action="store_true",
        help="print the file holding the secret (creating the dev one) and exit",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    env = dict(os.environ)
    try:
        if args.print_secret_path:
            path = action_secret_path(env, args.secrets_dir)
            if path is None:
                raise SecretError("PZ_ACTION_SECRET is set, so no file holds the secret")
            print(path)
            return 0
        if not is_loopback(args.host) and not args.allow_remote:
            raise ValueError(
                f"refusing to listen on {args.host}: not a loopback address; "
                "pass --allow-remote to expose the action server"
            )
        secret = action_secret(env, args.secrets_dir)
        deadline = deadline_seconds(env)
        app = create_server_app(args.actions, secret, deadline, max_body_bytes(env))
    except ValueError as exc:  # SecretError too
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    logger.info(
        "action server on http://%s:%d (token required, deadline %.0f ms)",
        args.host,
        args.port,
        deadline * 1000,
    )
    app.run(args.host, args.port, workers=1, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    # Run the imported module, not this __main__ copy, so there is one COUNTERS.
    from actions.server import main as _main

    sys.exit(_main())
