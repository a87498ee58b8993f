"""An action call as Rasa sends it, read and checked before any action sees it.

Every refusal is a BadCall whose message is safe to return: it never quotes the request.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from typing import Any

from rasa_sdk import Tracker
from sanic.request import Request


class BadCall(ValueError):
    """The request is not an action call; the message is safe to return (no request data)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def clip(value: Any, limit: int = 100) -> str:
    """Request-derived text we must return (an action name), bounded and encodable."""
    return str(value)[:limit].encode("utf-8", "replace").decode("utf-8")


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body as sent, at most ``limit`` bytes; BadCall otherwise."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BadCall("request body too large", 413)
    chunks, size = [], 0
    while (chunk := await request.stream.read()) is not None:
        size += len(chunk)
        if size > limit:
            raise BadCall("request body too large", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def decoded(body: bytes, headers: Mapping[str, str], limit: int) -> bytes:
    """The body decompressed if deflated, at most ``limit`` bytes; BadCall otherwise."""
    encoding = headers.get("content-encoding", "identity").strip().lower()
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


def parse_call(body: bytes) -> dict[str, Any]:
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


def tracker_of(call: dict[str, Any]) -> Tracker:
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
