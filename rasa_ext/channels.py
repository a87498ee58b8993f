"""REST input channel that validates requests before Rasa sees them.

Rasa's stock ``rest`` channel trusts its input: a missing body, a non-string
sender or a megabyte of text reach the NLU pipeline and end in a 500 or a
very slow turn. This channel keeps the same URL (/webhooks/rest/webhook) and
answer format, and turns bad input into a 4xx with a one-line JSON error.

It also never answers with silence: when the turn fails (Rasa logs a failing
action and answers nothing), answers nothing, or is not done by the turn
deadline (rasa_ext/deadlines.py), the user gets a fallback message and the
fault is counted (GET /webhooks/rest/ shows the counts, GET /webhooks/rest/metrics every
turn's outcome and duration for Prometheus: rasa_ext/turn_metrics.py). A late turn keeps
running under the user's lock, so the conversation stays complete and ordered.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from core.limits import MAX_MESSAGE_CHARS, TURN_FALLBACK_TEXT, fallback_payload
from core.settings import Settings
from core.vouching import ACCOUNT_KEY, VOUCH_HEADER
from rasa_ext import deadlines, speedups
from rasa_ext.turn_metrics import TurnMetrics
from rasa_ext.versions import check_rasa

logger = logging.getLogger(__name__)
_LATE_TURNS: set[asyncio.Task] = set()  # turns past the deadline, still finishing


async def answer_within(
    turn: Awaitable[Any],
    collector: CollectingOutputChannel,
    deadline: float,
    sender: str,
    metrics: TurnMetrics,
) -> list[dict[str, Any]]:
    """The turn's messages, or the fallback when it fails, says nothing or runs late."""
    started = time.perf_counter()
    outcome, messages = await _outcome(turn, collector, deadline, sender)
    metrics.turn(outcome, time.perf_counter() - started)
    return messages


async def _outcome(
    turn: Awaitable[Any], collector: CollectingOutputChannel, deadline: float, sender: str
) -> tuple[str, list[dict[str, Any]]]:
    task = asyncio.ensure_future(turn)
    done, _ = await asyncio.wait({task}, timeout=deadline)
    if not done:
        _LATE_TURNS.add(task)
        task.add_done_callback(_finish_late)
        return "deadline", _fallback("deadline", sender)
    if task.exception() is not None:
        logger.error("message from sender %r failed: %r", sender[:64], task.exception())
        return "error", _fallback("error", sender)
    if not collector.messages:
        return "empty", _fallback("empty", sender)
    return "answered", collector.messages


def _fallback(reason: str, sender: str) -> list[dict[str, Any]]:
    logger.warning("fallback answer for sender %r (%s)", sender[:64], reason)
    marker = fallback_payload("rasa", reason)
    return [{"recipient_id": sender, "text": TURN_FALLBACK_TEXT, "custom": marker}]


def _finish_late(task: asyncio.Task) -> None:
    _LATE_TURNS.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("late turn failed: %r", task.exception())


DEFAULT_MAX_SENDER_CHARS = 128
DEFAULT_MAX_BODY_BYTES = 64 * 1024


class BadRequest(ValueError):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def parse_message_request(
    body: bytes, max_body_bytes: int, max_message_chars: int, max_sender_chars: int
) -> tuple[str, str, dict[str, Any] | None]:
    """Validate a webhook body and return (sender, text, metadata); raise BadRequest."""
    if len(body) > max_body_bytes:
        raise BadRequest(f"request body is larger than {max_body_bytes} bytes", 413)
    try:
        payload = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadRequest("request body is not valid UTF-8") from None
    except ValueError:
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadRequest("request body must be a JSON object with 'sender' and 'message'")

    sender = payload.get("sender")
    if isinstance(sender, int) and not isinstance(sender, bool):
        sender = str(sender)
    if not isinstance(sender, str) or not sender.strip():
        raise BadRequest("'sender' must be a non-empty string")
    if len(sender) > max_sender_chars or any(ord(ch) < 32 for ch in sender):
        raise BadRequest(f"'sender' must be at most {max_sender_chars} printable characters")

    text = payload.get("message")
    if not isinstance(text, str):
        raise BadRequest("'message' must be a string")
    if not text.strip():
        raise BadRequest("'message' must not be empty")
    if len(text) > max_message_chars:
        raise BadRequest(f"'message' is longer than {max_message_chars} characters", 413)

    metadata = payload.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest("'metadata' must be a JSON object when given")
    return sender, text, metadata


def vouched(metadata: dict[str, Any] | None, token: str | None, secret: str) -> dict | None:
    """The metadata, without `account` unless the gateway's secret came with it: only the
    gateway may say whose cart and orders a message may see (core/accounts.py)."""
    if not metadata or ACCOUNT_KEY not in metadata:
        return metadata
    if secret and token and hmac.compare_digest(token.encode(), secret.encode()):
        return metadata
    return {k: v for k, v in metadata.items() if k != ACCOUNT_KEY}


class GuardedRestInput(RestInput):
    """Drop-in replacement for Rasa's ``rest`` channel (same name and URL)."""

    def __init__(
        self,
        max_message_chars: int = MAX_MESSAGE_CHARS,
        max_sender_chars: int = DEFAULT_MAX_SENDER_CHARS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        settings: Settings | None = None,  # None: this process's environment (Rasa builds us)
    ) -> None:
        self.max_message_chars = int(max_message_chars)
        self.max_sender_chars = int(max_sender_chars)
        self.max_body_bytes = int(max_body_bytes)
        check_rasa()
        settings = settings or Settings.from_env()
        self.deadline = settings.deadlines.turn_s
        self.metrics = TurnMetrics()
        self.gateway_secret = settings.gateway_secret
        deadlines.apply(settings.deadlines)
        speedups.install(settings.rasa_speedups)

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> GuardedRestInput:
        return cls(**(credentials or {}))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "fallbacks": self.metrics.fallbacks()})

        @webhook.route("/metrics", methods=["GET"])
        async def metrics(request: Request) -> HTTPResponse:
            agent = getattr(request.app.ctx, "agent", None)
            return response.raw(self.metrics.render(agent), content_type=CONTENT_TYPE_LATEST)

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                sender, text, metadata = parse_message_request(
                    request.body or b"",
                    self.max_body_bytes,
                    self.max_message_chars,
                    self.max_sender_chars,
                )
            except BadRequest as exc:
                return response.json({"error": str(exc)}, status=exc.status)

            metadata = vouched(metadata, request.headers.get(VOUCH_HEADER), self.gateway_secret)
            collector = CollectingOutputChannel()
            message = UserMessage(
                text, collector, sender, input_channel=self.name(), metadata=metadata
            )
            messages = await answer_within(
                on_new_message(message), collector, self.deadline, sender, self.metrics
            )
            return response.json(messages)

        return webhook
