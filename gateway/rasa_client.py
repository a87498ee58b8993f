"""Forwarding chat turns to Rasa's REST webhook with one deadline for the whole exchange.

Rasa answers 200 with [] when the action server or Redis failed, so an empty answer is
treated like a timeout: the user gets a fallback line instead of silence. An apology from
Rasa's channel or from the action server comes marked (core/limits.py, fallback_payload):
it counts as a fallback too, with who gave it and why, so `"fallback"` and the fallback
counter are true for every answer that is not a real one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp

from core.limits import (
    FALLBACK_PAYLOAD_TYPE,
    FALLBACK_REASONS,
    FALLBACK_SOURCES,
    TURN_FALLBACK_TEXT,
)
from core.vouching import VOUCH_HEADER
from gateway.bodies import read_limited

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/rest/webhook"
MAX_REPLY_BYTES = 1024 * 1024
HEALTH_TIMEOUT_S = 1.0


class RasaRejected(Exception):
    """Rasa answered 4xx: the message itself was refused (its body is not passed on)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"Rasa answered {status}")
        self.status = status


@dataclass(frozen=True)
class RasaReply:
    messages: list[dict[str, str]]
    # timeout / unreachable / status_5xx / invalid / empty from the gateway itself;
    # rasa_<reason> / action_<reason> for apologies Rasa passed on (core/limits.py).
    fallback_reason: str | None = None

    @property
    def fallback(self) -> bool:
        return self.fallback_reason is not None


def fallback(reason: str) -> RasaReply:
    return RasaReply([{"text": TURN_FALLBACK_TEXT}], reason)


MAX_BUTTONS = 6


def _buttons(raw: Any) -> list[dict[str, str]]:
    """Quick replies the client may show: short titles, intent payloads ("/name...") only."""
    if not isinstance(raw, list):
        return []
    out = []
    for b in raw[:MAX_BUTTONS]:
        if not isinstance(b, dict):
            continue
        title, payload = b.get("title"), b.get("payload")
        if isinstance(title, str) and isinstance(payload, str) and payload.startswith("/"):
            if 0 < len(title) <= 80 and len(payload) <= 200:
                out.append({"title": title, "payload": payload})
    return out


RICH_TYPES = frozenset({"products", "comparison", "cart"})


def _ours(custom: Any, types: frozenset[str]) -> dict[str, Any] | None:
    """A custom payload of ours (``"voltmart": 1``) of one of these types; None otherwise."""
    if isinstance(custom, dict) and custom.get("voltmart") == 1 and custom.get("type") in types:
        return custom
    return None


def _fallback_marker(custom: Any) -> str | None:
    """'<source>_<reason>' of a marked apology; 'other' for a marker with unknown values
    (the metric's labels stay a fixed set)."""
    if _ours(custom, frozenset({FALLBACK_PAYLOAD_TYPE})) is None:
        return None
    source, reason = custom.get("source"), custom.get("reason")
    if source in FALLBACK_SOURCES and reason in FALLBACK_REASONS:
        return f"{source}_{reason}"
    return "other"


def fallback_in(payload: list[dict[str, Any]]) -> str | None:
    """Why the first marked apology in a webhook reply was given, if there is one."""
    return next((r for m in payload if (r := _fallback_marker(m.get("custom")))), None)


def chat_messages(payload: Any) -> list[dict[str, Any]] | None:
    """The answers of a webhook reply: text (with its quick replies) and our rich payloads
    (cards, a comparison table, a cart), in Rasa's order; None when malformed."""
    if not isinstance(payload, list) or not all(isinstance(m, dict) for m in payload):
        return None
    out: list[dict[str, Any]] = []
    for m in payload:
        if isinstance(m.get("text"), str):
            buttons = _buttons(m.get("buttons"))
            out.append({"text": m["text"], "buttons": buttons} if buttons else {"text": m["text"]})
        rich = _ours(m.get("custom"), RICH_TYPES)  # responses/rich.py, drawn by the web chat
        if rich is not None:
            out.append({"custom": rich})
    return out


class RasaClient:
    """Talks to one Rasa server through a shared aiohttp session."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, timeout: float, secret: str = ""
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # Proves to Rasa's REST channel that the `account` metadata is ours (core/accounts.py).
        self.headers = {VOUCH_HEADER: secret} if secret else {}

    async def send(self, sender: str, message: str, metadata: dict[str, Any]) -> RasaReply:
        """Rasa's text answers, or a fallback reply; raises RasaRejected on a 4xx."""
        body = {"sender": sender, "message": message, "metadata": metadata}
        try:
            async with asyncio.timeout(self.timeout):
                async with self.session.post(
                    self.base_url + WEBHOOK_PATH, json=body, headers=self.headers
                ) as resp:
                    if 400 <= resp.status < 500:
                        raise RasaRejected(resp.status)
                    if resp.status != 200:
                        logger.warning("Rasa answered %s for sender %r", resp.status, sender[:64])
                        return fallback("status_5xx" if resp.status >= 500 else "invalid")
                    raw = await read_limited(resp.content, MAX_REPLY_BYTES)
        except TimeoutError:
            logger.warning(
                "Rasa gave no answer within %.1f s (sender %r)", self.timeout, sender[:64]
            )
            return fallback("timeout")
        except (aiohttp.ClientError, OSError) as exc:
            logger.warning("Rasa unreachable at %s: %s", self.base_url, type(exc).__name__)
            return fallback("unreachable")
        try:
            payload = json.loads(raw) if raw is not None else None
        except (ValueError, UnicodeDecodeError, RecursionError):
            payload = None
        messages = chat_messages(payload)
        if messages is None:
            logger.warning("Rasa sent a reply that is not a JSON list (sender %r)", sender[:64])
            return fallback("invalid")
        if not messages:
            return fallback("empty")
        return RasaReply(messages, fallback_in(payload))

    async def healthy(self) -> bool:
        try:
            async with asyncio.timeout(min(HEALTH_TIMEOUT_S, self.timeout)):
                async with self.session.get(self.base_url + "/") as resp:
                    return resp.status == 200
        except (TimeoutError, aiohttp.ClientError, OSError):
            return False
