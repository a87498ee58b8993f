"""Request bodies: bounded reads and strict schemas, so bad input stops at the door.

The limits here are also what gateway/openapi.py publishes, so the document and the
server cannot drift apart.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import StreamReader, web

from core.personas import PERSONAS
from gateway.errors import ApiError
from realtime.stream import MAX_QUANTITY

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
PRINTABLE = r"^[^\u0000-\u001f\u007f]+$"  # Python re and ECMA regex read it the same way
NON_BLANK = r"\S"
MAX_ID_CHARS = 128
MAX_CATEGORY_CHARS = 64
MAX_AMOUNT = 1_000_000_000
MAX_TIMESTAMP = 4_102_444_800  # 2100-01-01
MAX_PRODUCT_CHARS = 128
# ISO 8601 as CRMs send it (RFC 3339 and the common variants): date, time, optional fraction,
# then Z or an offset. Without the zone the time is ambiguous, so it is refused.
_ISO_LOCAL = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?"
_ISO_ZONE = r"(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)"
ISO_TIMESTAMP = f"^{_ISO_LOCAL}{_ISO_ZONE}$"  # published in the OpenAPI document
MAX_ISO_CHARS = 40
TIMESTAMP_FORMATS = "unix seconds or ISO 8601 with a zone, e.g. 2026-11-30T13:05:00Z"
# Arrays/objects inside each other. Deeper bodies are refused before anything re-encodes them:
# json.dumps (forwarding metadata to Rasa) needs more stack than json.loads did.
MAX_JSON_DEPTH = 32
_PRINTABLE = re.compile(PRINTABLE)
_NON_BLANK = re.compile(NON_BLANK)
_ISO = re.compile(f"({_ISO_LOCAL})({_ISO_ZONE})?")


def require_content_type(request: web.Request, allowed: tuple[str, ...]) -> str:
    """The body's media type if it is one of ``allowed`` (UTF-8 only), else 415."""
    refused = ApiError(415, f"send the body as {' or '.join(allowed)} (UTF-8)")
    try:
        media_type, charset = request.content_type, (request.charset or "utf-8").lower()
    except ValueError:  # aiohttp's parser (email.message) fails on non-ASCII header bytes
        raise refused from None
    if media_type not in allowed or charset not in ("utf-8", "utf8"):
        raise refused
    return media_type


async def read_limited(content: StreamReader, limit: int) -> bytes | None:
    """The whole stream, or None as soon as it passes ``limit`` bytes (the rest is not read)."""
    chunks, size = [], 0
    async for chunk in content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """The whole body, refusing (413) as soon as it passes ``max_bytes``."""
    too_large = ApiError(413, f"request body is larger than {max_bytes} bytes")
    if request.content_length is not None and request.content_length > max_bytes:
        raise too_large
    body = await read_limited(request.content, max_bytes)
    if body is None:
        raise too_large
    return body


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "request body is not valid UTF-8") from None
    except (ValueError, RecursionError):
        raise ApiError(400, "request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "request body must be a JSON object")
    if _depth_exceeds(payload, MAX_JSON_DEPTH):
        raise ApiError(400, f"request body nests arrays/objects deeper than {MAX_JSON_DEPTH}")
    return payload


def _depth_exceeds(value: Any, limit: int) -> bool:
    """Whether arrays/objects nest more than ``limit`` deep (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in item)
    return False


def check_fields(payload: dict[str, Any], allowed: tuple[str, ...], required: tuple[str, ...]):
    unknown = sorted(set(payload) - set(allowed))
    if unknown:
        raise ApiError(400, f"unknown field {unknown[0][:40]!r}; allowed: {', '.join(allowed)}")
    for name in required:
        if name not in payload:
            raise ApiError(400, f"'{name}' is required")


def _string(payload: dict[str, Any], name: str, max_chars: int, printable: bool = True) -> str:
    value = payload.get(name, "")
    if not isinstance(value, str):
        raise ApiError(400, f"'{name}' must be a string")
    if len(value) > max_chars:
        raise ApiError(400, f"'{name}' is longer than {max_chars} characters")
    if printable and value and not _PRINTABLE.match(value):
        raise ApiError(400, f"'{name}' must not contain control characters")
    return value


def _number(payload: dict[str, Any], name: str, low: float, high: float, low_open: bool) -> float:
    value = payload[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(400, f"'{name}' must be a number")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or number > high or number < low or (low_open and number == low):
        bound = f"greater than {low:g}" if low_open else f"at least {low:g}"
        raise ApiError(400, f"'{name}' must be {bound} and at most {high:g}")
    return number


def _timestamp(payload: dict[str, Any], name: str = "timestamp") -> float | None:
    """Unix seconds from a number or a zoned ISO 8601 string; None when absent (now)."""
    if name not in payload:
        return None
    value = payload[name]
    if isinstance(value, str):
        return _iso_seconds(value, name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ApiError(400, f"'{name}' must be {TIMESTAMP_FORMATS}")
    try:
        seconds = float(value)
    except OverflowError:  # a JSON integer too large for a float
        seconds = math.inf
    return _in_time_range(seconds, name)


def _iso_seconds(text: str, name: str) -> float:
    match = _ISO.fullmatch(text) if len(text) <= MAX_ISO_CHARS else None
    if match is None:
        raise ApiError(400, f"'{name}' must be {TIMESTAMP_FORMATS}")
    if match[2] is None:
        raise ApiError(400, f"'{name}' has no time zone; add Z or an offset such as +01:00")
    try:  # the shape is right; this checks the calendar (month 13, offset +25:00)
        when = datetime.fromisoformat(text.upper())
    except ValueError:
        raise ApiError(400, f"'{name}' is not a valid date and time: {text!r}") from None
    return _in_time_range(when.timestamp(), name)


def _in_time_range(seconds: float, name: str) -> float:
    if not 0 <= seconds <= MAX_TIMESTAMP:  # NaN and infinities fail too
        raise ApiError(400, f"'{name}' must be between 1970-01-01 and 2100-01-01 (UTC)")
    return seconds


@dataclass(frozen=True)
class ChatRequest:
    message: str
    sender: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


CHAT_FIELDS = ("message", "sender", "metadata")


def parse_chat(payload: dict[str, Any], max_message_chars: int) -> ChatRequest:
    check_fields(payload, CHAT_FIELDS, ("message",))
    message = payload["message"]
    if not isinstance(message, str):
        raise ApiError(400, "'message' must be a string")
    if not _NON_BLANK.search(message):
        raise ApiError(400, "'message' must not be empty")
    if len(message) > max_message_chars:
        raise ApiError(413, f"'message' is longer than {max_message_chars} characters")
    sender = payload.get("sender")
    if sender is not None and not isinstance(sender, str):
        raise ApiError(400, "'sender' must be a string")
    metadata = payload.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ApiError(400, "'metadata' must be a JSON object")
    return ChatRequest(message, sender, metadata)


def _user_id(payload: dict[str, Any]) -> str:
    """The CRM's user id, the sender id the shopper chats with."""
    user_id = _string(payload, "user_id", MAX_ID_CHARS)
    if not user_id:
        raise ApiError(400, "'user_id' must not be empty")
    return user_id


@dataclass(frozen=True)
class PurchaseRequest:
    user_id: str
    amount: float
    category: str = ""
    timestamp: float | None = None
    order_id: str = ""


PURCHASE_FIELDS = ("user_id", "amount", "category", "timestamp", "order_id")


def parse_purchase(payload: dict[str, Any]) -> PurchaseRequest:
    check_fields(payload, PURCHASE_FIELDS, ("user_id", "amount"))
    user_id = _user_id(payload)
    return PurchaseRequest(
        user_id=user_id,
        amount=_number(payload, "amount", 0, MAX_AMOUNT, low_open=True),
        category=_string(payload, "category", MAX_CATEGORY_CHARS),
        timestamp=_timestamp(payload),
        order_id=_string(payload, "order_id", MAX_ID_CHARS),
    )


@dataclass(frozen=True)
class CartRequest:
    user_id: str
    product: str = ""
    category: str = ""
    quantity: int = 1
    timestamp: float | None = None


CART_FIELDS = ("user_id", "product", "category", "quantity", "timestamp")


def parse_cart(payload: dict[str, Any]) -> CartRequest:
    check_fields(payload, CART_FIELDS, ("user_id",))
    user_id = _user_id(payload)
    quantity = payload.get("quantity", 1)
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ApiError(400, "'quantity' must be a whole number (JSON integer), e.g. 1")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ApiError(400, f"'quantity' must be between 1 and {MAX_QUANTITY}")
    return CartRequest(
        user_id=user_id,
        product=_string(payload, "product", MAX_PRODUCT_CHARS),
        category=_string(payload, "category", MAX_CATEGORY_CHARS),
        quantity=quantity,
        timestamp=_timestamp(payload),
    )


def parse_login(payload: dict[str, Any]) -> str:
    check_fields(payload, ("persona",), ("persona",))
    persona = payload["persona"]
    if not isinstance(persona, str) or persona not in PERSONAS:
        raise ApiError(400, f"'persona' must be one of: {', '.join(PERSONAS)}")
    return persona


def parse_token_request(raw: bytes, media_type: str) -> dict[str, str]:
    """Token request parameters from a form or JSON body; 400 (OAuth2 shape) when unreadable."""

    def invalid(message: str) -> ApiError:
        return ApiError(400, message, {"Cache-Control": "no-store"}, code="invalid_request")

    if media_type == JSON:
        try:
            payload = parse_json_object(raw)
        except ApiError as exc:
            raise invalid(exc.message) from None
        if not all(isinstance(v, str) for v in payload.values()):
            raise invalid("every token request parameter must be a string")
        return payload
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw), max_num_fields=8
        )
    except ValueError:  # includes UnicodeDecodeError
        raise invalid("request body is not a valid UTF-8 form") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        if name in fields:
            raise invalid(f"parameter {name[:40]!r} is given more than once")
        fields[name] = value
    return fields
