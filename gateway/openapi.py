"""The OpenAPI 3.0 document served at /openapi.json.

Built from the same limits the validators use (gateway/bodies.py, the config), and only
lists the routes this deployment registers, so fuzzing it finds no undocumented answer.
The components are in gateway/openapi_schemas.py, the operations in gateway/openapi_paths.py.
"""

from __future__ import annotations

from typing import Any

from gateway.config import SCOPES, GatewayConfig
from gateway.openapi_paths import paths
from gateway.openapi_schemas import responses, schemas

VERSION = "1.0.0"
SCOPE_TEXT = {
    "chat": "talk to the assistant as the token's subject",
    "ingest": "send CRM purchases",
    "privacy": "erase users (operators)",
}


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
        "paths": paths(config),
        "components": {
            "schemas": schemas(config),
            "responses": responses(),
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
