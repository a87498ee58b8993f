"""Every protected gateway route refuses calls without a valid token; the count goes to
var/security/routes.json for `make security-check`."""

from __future__ import annotations

import json

from tests.servers import VAR

RESULTS = VAR.parent / "security" / "routes.json"
BODIES = {"/v1/chat": {"message": "hi"}, "/v1/privacy/erase": {"user_ids": ["u1"]}}


async def test_every_protected_route_refuses_anonymous_and_forged_tokens(fuzz_gateway):
    gw = fuzz_gateway
    spec = await (await gw.client.get("/openapi.json")).json()
    protected = [
        (path, method)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    ]
    refused = 0
    for path, method in protected:
        body = BODIES.get(path, {})
        for headers in ({}, {"Authorization": "Bearer forged.token.value"}):
            resp = await gw.client.request(method.upper(), path, json=body, headers=headers)
            expected = (400, 401) if path == "/oauth/token" else (401,)  # OAuth: invalid_request
            assert resp.status in expected, (method, path, headers, resp.status)
        refused += 1
    open_routes = sorted(
        p for p, ops in spec["paths"].items() if not any(o.get("security") for o in ops.values())
    )
    assert len(protected) >= 4 and "/v1/privacy/erase" in dict(protected)
    assert set(open_routes) <= {
        "/oauth/token",
        "/demo/login",
        "/health",
        "/metrics",
        "/openapi.json",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"protected": len(protected), "refused": refused, "open": open_routes}) + "\n"
    )
