"""The operations of the OpenAPI document: only the routes this deployment registers, so
fuzzing the document finds no undocumented answer."""

from __future__ import annotations

from typing import Any

from gateway.config import GatewayConfig
from gateway.openapi_schemas import ERROR_RESPONSES, json_content, ref

NO_STORE = {"Cache-Control": {"schema": {"type": "string"}}}
CHAT_HEADERS = [
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


def _body(schema: str) -> dict[str, Any]:
    return json_content(ref("schemas", schema))


def _ok(description: str, schema: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """A success answer whose JSON body is the named schema."""
    answer: dict[str, Any] = {"description": description}
    if headers:
        answer["headers"] = headers
    answer["content"] = _body(schema)
    return answer


def _bearer(scope: str) -> list[dict[str, list[str]]]:
    return [{"bearerAuth": []}, {"oauth2": [scope]}]


def _operation(
    summary: str,
    answers: dict[str, Any],
    errors: tuple[int, ...] = (),
    request: dict[str, Any] | None = None,
    security: list[dict[str, list[str]]] | None = None,
    tag: str = "api",
) -> dict[str, Any]:
    """One operation; its id is the summary's words before the colon."""
    operation: dict[str, Any] = {
        "summary": summary,
        "operationId": summary.split(":")[0].strip().replace(" ", "_"),
        "tags": [tag],
        "responses": {
            **answers,
            **{str(status): ref("responses", ERROR_RESPONSES[status]) for status in errors},
        },
    }
    if request is not None:
        operation["requestBody"] = {"required": True, "content": request}
    operation["security"] = security if security is not None else []
    return operation


def paths(config: GatewayConfig) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    if config.can_sign:
        token_schema = {"schema": ref("schemas", "TokenRequest")}
        paths["/oauth/token"] = {
            "post": _operation(
                "issue token: OAuth2 client credentials (form or JSON body, or HTTP Basic)",
                {"200": _ok("an access token", "TokenResponse", NO_STORE)},
                (400, 401, 413, 415, 429),
                {
                    "application/x-www-form-urlencoded": token_schema,
                    "application/json": token_schema,
                },
                security=[{}, {"clientBasic": []}],
                tag="auth",
            )
        }
    chat = _operation(
        "chat: one turn as the token's subject; context is added from the request",
        {"200": _ok("the assistant's answers (or the fallback line)", "ChatResponse")},
        (400, 401, 403, 413, 415, 429),
        _body("ChatRequest"),
        security=_bearer("chat"),
    )
    chat["parameters"] = CHAT_HEADERS
    paths["/v1/chat"] = {"post": chat}
    for path, summary, schema in (
        ("purchase", "ingest purchase: a CRM purchase onto the event stream", "PurchaseRequest"),
        ("cart", "ingest cart: an add-to-cart onto the event stream", "CartRequest"),
    ):
        paths[f"/v1/events/{path}"] = {
            "post": _operation(
                summary,
                {"202": _ok("stored on the stream", "EventAccepted")},
                (400, 401, 403, 413, 415, 429, 503),
                _body(schema),
                security=_bearer("ingest"),
            )
        }
    paths["/v1/me/data"] = {
        "get": _operation(
            "export my data: everything stored about the token's subject",
            {"200": _ok("the export", "ExportResponse", NO_STORE)},
            (401, 403, 429, 503),
            security=_bearer("chat"),
            tag="privacy",
        )
    }
    paths["/v1/privacy/erase"] = {
        "post": _operation(
            "erase users: remove users from every store, with a receipt",
            {"200": _ok("what was removed from each store", "EraseReceipt", NO_STORE)},
            (400, 401, 403, 413, 415, 429, 503),
            _body("EraseRequest"),
            security=_bearer("privacy"),
            tag="privacy",
        )
    }
    if config.demo_login:
        paths["/demo/login"] = {
            "post": _operation(
                "demo login: a chat token for a persona's demo user",
                {"200": _ok("a chat token", "DemoLoginResponse", NO_STORE)},
                (400, 413, 415, 429),
                _body("DemoLoginRequest"),
                tag="auth",
            )
        }
    paths["/health"] = {
        "get": _operation(
            "health: whether Redis and Rasa answer",
            {"200": _ok("liveness", "Health")},
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
            {"200": {"description": "OpenAPI 3.0", "content": json_content({"type": "object"})}},
            tag="ops",
        )
    }
    return paths
