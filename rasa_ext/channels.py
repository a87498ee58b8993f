"""REST input channel that validates requests before Rasa sees them.

Rasa's stock ``rest`` channel trusts its input: a missing body, a non-string
sender or a megabyte of text reach the NLU pipeline and end in a 500 or a
very slow turn. This channel keeps the same URL (/webhooks/rest/webhook) and
answer format, and turns bad input into a 4xx with a one-line JSON error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_CHARS = 2000
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


class GuardedRestInput(RestInput):
    """Drop-in replacement for Rasa's ``rest`` channel (same name and URL)."""

    def __init__(
        self,
        max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS,
        max_sender_chars: int = DEFAULT_MAX_SENDER_CHARS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self.max_message_chars = int(max_message_chars)
        self.max_sender_chars = int(max_sender_chars)
        self.max_body_bytes = int(max_body_bytes)

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> GuardedRestInput:
        return cls(**(credentials or {}))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

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

            collector = CollectingOutputChannel()
            message = UserMessage(
                text, collector, sender, input_channel=self.name(), metadata=metadata
            )
            try:
                await on_new_message(message)
            except Exception:  # the conversation must go on; Rasa has logged the cause
                logger.exception("message from sender %r failed", sender[:64])
            return response.json(collector.messages)

        return webhook
