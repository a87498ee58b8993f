"""The OpenAPI 3.0 document served at /openapi.json.

Built from the same limits the validators use (gateway/bodies.py, the config), and only
lists the routes this deployment registers, so fuzzing it finds no undocumented answer.
"""

from __future__ import annotations

from typing import Any

from actions.personas import PERSONAS
from gateway.bodies import (
    MAX_AMOUNT,
    MAX_CATEGORY_CHARS,
    MAX_ID_CHARS,
    MAX_TIMESTAMP,
    NON_BLANK,
    PRINTABLE,
)
from gateway.config import SCOPES, GatewayConfig
from gateway.rasa_client import FALLBACK_TEXT

VERSION = "1.0.0"
SCOPE_TEXT = {
    "chat": "talk to the assistant as the token's subject",
    "ingest": "send CRM purchases",
    "privacy": "erase users (operators)",
}


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _errors(*statuses: int) -> dict[str, Any]:
    names = {
        400: "BadRequest",
        401: "Unauthorized",
        403: "Forbidden",
        413: "TooLarge",
        415: "UnsupportedMediaType",
        429: "TooManyRequests",
        503: "Unavailable",
    }
    return {str(status): _ref("responses", names[status]) for status in statuses}


def _schemas(config: GatewayConfig) -> dict[str, Any]:
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
            "required": ["text"],
            "properties": {
                "text": {"type": "string"},
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
        "ChatResponse": {
            "type": "object",
            "required": ["sender", "messages", "fallback"],
            "properties": {
                "sender": {"type": "string"},
                "messages": {"type": "array", "items": _ref("schemas", "ChatMessage")},
                "fallback": {
                    "type": "boolean",
                    "description": f"true when the assistant did not answer in time and "
                    f"messages holds: {FALLBACK_TEXT!r}",
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
                "category": {
                    "type": "string",
                    "maxLength": MAX_CATEGORY_CHARS,
                    "pattern": f"^$|{PRINTABLE}",
                },
                "timestamp": {
                    "type": "number",
                    "minimum": 0,
                    "maximum": MAX_TIMESTAMP,
                    "description": "unix seconds; default: now",
                },
                "order_id": {
                    "type": "string",
                    "maxLength": MAX_ID_CHARS,
                    "pattern": f"^$|{PRINTABLE}",
                },
            },
            "additionalProperties": False,
        },
        "PurchaseAccepted": {
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


def _responses() -> dict[str, Any]:
    error = _json(_ref("schemas", "Error"))
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
            {"WWW-Authenticate": {"schema": {"type": "string"}}},
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


def _operation(
    summary: str,
    responses: dict[str, Any],
    request: dict[str, Any] | None = None,
    security: list[dict[str, list[str]]] | None = None,
    tag: str = "api",
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": summary.split(":")[0].strip().replace(" ", "_"),
        "tags": [tag],
        "responses": responses,
    }
    if request is not None:
        operation["requestBody"] = {"required": True, "content": request}
    operation["security"] = security if security is not None else []
    return operation


def _paths(config: GatewayConfig) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    no_store = {"Cache-Control": {"schema": {"type": "string"}}}
    if config.can_sign:
        token_schema = _ref("schemas", "TokenRequest")
        paths["/oauth/token"] = {
            "post": _operation(
                "issue token: OAuth2 client credentials (form or JSON body, or HTTP Basic)",
                {
                    "200": {
                        "description": "an access token",
                        "headers": no_store,
                        "content": _json(_ref("schemas", "TokenResponse")),
                    },
                    **_errors(400, 401, 413, 415, 429),
                },
                {
                    "application/x-www-form-urlencoded": {"schema": token_schema},
                    "application/json": {"schema": token_schema},
                },
                security=[{}, {"clientBasic": []}],
                tag="auth",
            )
        }
    paths["/v1/chat"] = {
        "post": _operation(
            "chat: one turn as the token's subject; context is added from the request",
            {
                "200": {
                    "description": "the assistant's answers (or the fallback line)",
                    "content": _json(_ref("schemas", "ChatResponse")),
                },
                **_errors(400, 401, 403, 413, 415, 429),
            },
            _json(_ref("schemas", "ChatRequest")),
            security=[{"bearerAuth": []}, {"oauth2": ["chat"]}],
        )
    }
    paths["/v1/chat"]["post"]["parameters"] = [
        {
            "name": "X-Timezone",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "IANA zone name, e.g. Europe/Berlin; ignored when unknown",
        },
        {
            "name": "X-Region",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": "two-letter region code; else looked up from the client address",
        },
    ]
    paths["/v1/events/purchase"] = {
        "post": _operation(
            "ingest purchase: a CRM purchase onto the event stream",
            {
                "202": {
                    "description": "stored on the stream",
                    "content": _json(_ref("schemas", "PurchaseAccepted")),
                },
                **_errors(400, 401, 403, 413, 415, 429, 503),
            },
            _json(_ref("schemas", "PurchaseRequest")),
            security=[{"bearerAuth": []}, {"oauth2": ["ingest"]}],
        )
    }
    paths["/v1/me/data"] = {
        "get": _operation(
            "export my data: everything stored about the token's subject",
            {
                "200": {
                    "description": "the export",
                    "headers": no_store,
                    "content": _json(_ref("schemas", "ExportResponse")),
                },
                **_errors(401, 403, 429, 503),
            },
            security=[{"bearerAuth": []}, {"oauth2": ["chat"]}],
            tag="privacy",
        )
    }
    paths["/v1/privacy/erase"] = {
        "post": _operation(
            "erase users: remove users from every store, with a receipt",
            {
                "200": {
                    "description": "what was removed from each store",
                    "headers": no_store,
                    "content": _json(_ref("schemas", "EraseReceipt")),
                },
                **_errors(400, 401, 403, 413, 415, 429, 503),
            },
            _json(_ref("schemas", "EraseRequest")),
            security=[{"bearerAuth": []}, {"oauth2": ["privacy"]}],
            tag="privacy",
        )
    }
    if config.demo_login:
        paths["/demo/login"] = {
            "post": _operation(
                "demo login: a chat token for a persona's demo user",
                {
                    "200": {
                        "description": "a chat token",
                        "headers": no_store,
                        "content": _json(_ref("schemas", "DemoLoginResponse")),
                    },
                    **_errors(400, 413, 415, 429),
                },
                _json(_ref("schemas", "DemoLoginRequest")),
                tag="auth",
            )
        }
    paths["/health"] = {
        "get": _operation(
            "health: whether Redis and Rasa answer",
            {"200": {"description": "liveness", "content": _json(_ref("schemas", "Health"))}},
            tag="ops",
        )
    }
    paths["/metrics"] = {
        "get": _operation(
            "metrics: Prometheus text format 0.0.4",
            {
                "200": {
                    "description": "counters and histograms",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
            tag="ops",
        )
    }
    paths["/openapi.json"] = {
        "get": _operation(
            "openapi: this document",
            {"200": {"description": "OpenAPI 3.0", "content": _json({"type": "object"})}},
            tag="ops",
        )
    }
    return paths


def build_openapi(config: GatewayConfig) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Voltmart gateway",
            "version": VERSION,
            "description": "Public front door of the Voltmart assistant: tokens, chat, "
            'purchase ingest. Every error is JSON {"error": ...}.',
        },
        "servers": [{"url": "/"}],
        "paths": _paths(config),
        "components": {
            "schemas": _schemas(config),
            "responses": _responses(),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "clientBasic": {"type": "http", "scheme": "basic"},
                "oauth2": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": "/oauth/token",
                            "scopes": {scope: SCOPE_TEXT[scope] for scope in SCOPES},
                        }
                    },
                },
            },
        },
    }
