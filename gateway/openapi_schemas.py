"""The components of the OpenAPI document: the body schemas and the shared error answers.

The limits are the validators' own (gateway/bodies.py, the config), so the document and the
server cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from core.limits import TURN_FALLBACK_TEXT
from core.personas import PERSONAS
from gateway.bodies import (
    ISO_TIMESTAMP,
    MAX_AMOUNT,
    MAX_CATEGORY_CHARS,
    MAX_ID_CHARS,
    MAX_ISO_CHARS,
    MAX_PRODUCT_CHARS,
    MAX_QUANTITY,
    MAX_TIMESTAMP,
    NON_BLANK,
    PRINTABLE,
)
from gateway.config import GatewayConfig

# Status -> the shared answer in components/responses an operation refers to.
ERROR_RESPONSES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    413: "TooLarge",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
    503: "Unavailable",
}


def ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _optional_text(max_chars: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": max_chars, "pattern": f"^$|{PRINTABLE}"}


# Unix seconds or a zoned ISO 8601 string (gateway/bodies.py _timestamp); default: now.
TIMESTAMP = {
    "oneOf": [
        {"type": "number", "minimum": 0, "maximum": MAX_TIMESTAMP},
        {
            "type": "string",
            "format": "date-time",
            "pattern": ISO_TIMESTAMP,
            "maxLength": MAX_ISO_CHARS,
        },
    ],
    "description": "unix seconds, or ISO 8601 with Z or an offset (e.g. "
    "2026-11-30T14:05:00+01:00; no zone: 400), from 1970 to 2100; default: now",
}


def schemas(config: GatewayConfig) -> dict[str, Any]:
    """The bodies' schemas; the message limit is this deployment's."""
    string_id = {"type": "string", "minLength": 1, "maxLength": MAX_ID_CHARS, "pattern": PRINTABLE}
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "description": "one line saying what to fix"},
                "error_description": {
                    "type": "string",
                    "description": "OAuth2 errors: 'error' is the RFC 6749 code, this the reason",
                },
            },
            "additionalProperties": False,
        },
        "TokenRequest": {
            "type": "object",
            "required": ["grant_type"],
            "properties": {
                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                "client_id": {"type": "string", "description": "or use HTTP Basic"},
                "client_secret": {"type": "string", "description": "or use HTTP Basic"},
                "scope": {
                    "type": "string",
                    "pattern": NON_BLANK,
                    "description": "space-separated subset of the client's scopes",
                },
            },
            "additionalProperties": False,
        },
        "TokenResponse": {
            "type": "object",
            "required": ["access_token", "token_type", "expires_in", "scope"],
            "properties": {
                "access_token": {"type": "string", "description": "a JWT"},
                "token_type": {"type": "string", "enum": ["Bearer"]},
                "expires_in": {"type": "integer", "minimum": 1},
                "scope": {"type": "string"},
            },
            "additionalProperties": False,
        },
        "ChatRequest": {
            "type": "object",
            "required": ["message"],
            "properties": {
                "message": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": config.max_message_chars,
                    "pattern": NON_BLANK,
                    "description": f"longer than {config.max_message_chars} characters: 413",
                },
                "sender": {
                    "type": "string",
                    "description": "optional; must equal the token's subject (else 403)",
                },
                "metadata": {
                    "type": "object",
                    "description": "passed to Rasa; timezone, region, device and channel "
                    "are set by the gateway",
                },
            },
            "additionalProperties": False,
        },
        "ChatMessage": {
            "type": "object",
            "description": "a text answer (with quick replies), or a rich payload beside it",
            "minProperties": 1,
            "properties": {
                "text": {"type": "string"},
                "custom": ref("schemas", "RichPayload"),
                "buttons": {
                    "type": "array",
                    "maxItems": 6,
                    "description": "quick replies: show the title, send the payload as the "
                    "next message",
                    "items": {
                        "type": "object",
                        "required": ["title", "payload"],
                        "properties": {
                            "title": {"type": "string", "maxLength": 80},
                            "payload": {"type": "string", "maxLength": 200, "pattern": "^/"},
                        },
                        "additionalProperties": False,
                    },
                },
            },
            "additionalProperties": False,
        },
        "RichPayload": {
            "type": "object",
            "description": "product cards, a comparison table or a cart; the text before it "
            "says the same in words (web chat: the listed items leave the text)",
            "required": ["voltmart", "type", "title"],
            "properties": {
                "voltmart": {"type": "integer", "enum": [1]},
                "type": {"type": "string", "enum": ["products", "comparison", "cart"]},
                "title": {"type": "string"},
                "products": {
                    "type": "array",
                    "description": "products: cards (name, price, deal_price, discount_pct, "
                    "stock, stock_label, key_spec, rating, buttons); comparison: names",
                },
                "rows": {
                    "type": "array",
                    "description": "comparison: {label, values} per attribute, in order",
                },
                "items": {
                    "type": "array",
                    "description": "cart: {name, quantity, price, line_total}",
                },
                "total": {"type": "string"},
                "buttons": {"type": "array"},
            },
        },
        "ChatResponse": {
            "type": "object",
            "required": ["sender", "messages", "fallback"],
            "properties": {
                "sender": {"type": "string"},
                "messages": {"type": "array", "items": ref("schemas", "ChatMessage")},
                "fallback": {
                    "type": "boolean",
                    "description": "true when the answer is not a real one: the assistant "
                    f"did not answer in time and messages holds {TURN_FALLBACK_TEXT!r}, or "
                    "Rasa or the action server answered with an apology",
                },
            },
            "additionalProperties": False,
        },
        "PurchaseRequest": {
            "type": "object",
            "required": ["user_id", "amount"],
            "properties": {
                "user_id": string_id,
                "amount": {
                    "type": "number",
                    "minimum": 0,
                    "exclusiveMinimum": True,
                    "maximum": MAX_AMOUNT,
                },
                "category": _optional_text(MAX_CATEGORY_CHARS),
                "timestamp": TIMESTAMP,
                "order_id": _optional_text(MAX_ID_CHARS),
            },
            "additionalProperties": False,
        },
        "CartRequest": {
            "type": "object",
            "required": ["user_id"],
            "properties": {
                "user_id": string_id,
                "product": _optional_text(MAX_PRODUCT_CHARS),
                "category": _optional_text(MAX_CATEGORY_CHARS),
                "quantity": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": MAX_QUANTITY,
                    "description": "default: 1",
                },
                "timestamp": TIMESTAMP,
            },
            "additionalProperties": False,
        },
        "EventAccepted": {
            "type": "object",
            "required": ["event_id"],
            "properties": {"event_id": {"type": "string", "description": "stream entry id"}},
            "additionalProperties": False,
        },
        "ExportResponse": {
            "type": "object",
            "description": "everything stored about the token's subject",
            "required": ["user_id", "exported_at"],
            "properties": {
                "user_id": {"type": "string"},
                "exported_at": {"type": "number"},
                "consent": {"type": "object", "nullable": True},
                "profile": {"type": "object", "nullable": True},
                "segments": {"type": "object"},
                "live_features": {"type": "object", "nullable": True},
                "experiments": {"type": "object"},
                "decisions": {"type": "array", "items": {"type": "object"}},
                "surveys": {
                    "type": "array",
                    "items": {"type": "object"},
                    "description": "post-conversation survey answers (scores, comments)",
                },
                "conversation": {"type": "object", "nullable": True},
            },
        },
        "EraseRequest": {
            "type": "object",
            "required": ["user_ids"],
            "properties": {
                "user_ids": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 1000,
                    "items": {"type": "string", "minLength": 1, "maxLength": 256},
                }
            },
            "additionalProperties": False,
        },
        "EraseReceipt": {
            "type": "object",
            "required": ["erased"],
            "properties": {
                "erased": {
                    "type": "object",
                    "description": "user id -> store -> items removed",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": {"type": "integer"},
                    },
                }
            },
        },
        "DemoLoginRequest": {
            "type": "object",
            "required": ["persona"],
            "properties": {"persona": {"type": "string", "enum": list(PERSONAS)}},
            "additionalProperties": False,
        },
        "DemoLoginResponse": {
            "type": "object",
            "required": ["access_token", "sender", "persona", "expires_in"],
            "properties": {
                "access_token": {"type": "string"},
                "sender": {"type": "string"},
                "persona": {"type": "string", "enum": list(PERSONAS)},
                "expires_in": {"type": "integer", "minimum": 1},
            },
            "additionalProperties": False,
        },
        "Health": {
            "type": "object",
            "required": ["status", "redis", "rasa"],
            "properties": {
                "status": {"type": "string", "enum": ["ok"]},
                "redis": {"type": "boolean"},
                "rasa": {"type": "boolean"},
            },
            "additionalProperties": False,
        },
    }


def responses() -> dict[str, Any]:
    """The error answers, each a JSON Error with the headers a client acts on."""
    error = json_content(ref("schemas", "Error"))
    text = {"schema": {"type": "string"}}

    def plain(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
        response: dict[str, Any] = {"description": description, "content": error}
        if headers:
            response["headers"] = headers
        return response

    return {
        "BadRequest": plain("invalid body or parameters"),
        "Unauthorized": plain(
            "missing, malformed, expired or wrongly signed token, or unknown client",
            {"WWW-Authenticate": text},
        ),
        "Forbidden": plain(
            "token lacks the scope, or the body names another sender",
            {"WWW-Authenticate": text},
        ),
        "TooLarge": plain("body or message too large"),
        "UnsupportedMediaType": plain("wrong Content-Type"),
        "TooManyRequests": plain(
            "rate limit reached",
            {"Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 1}}},
        ),
        "Unavailable": plain(
            "the event store is down; retry",
            {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}},
        ),
    }
