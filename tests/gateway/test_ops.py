"""Operations surface: health, Prometheus metrics, the OpenAPI document, JSON 404/405,
demo login and the static chat page. Rasa is the conftest stub.
"""

from __future__ import annotations

import ipaddress
import json
import re

import jsonschema
import pytest

from core.personas import PERSONAS
from gateway.bodies import parse_cart, parse_chat, parse_purchase
from gateway.errors import ApiError
from tests.servers import free_port

SAMPLE_LINE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? '
    r"(\S+)$"
)


async def test_health_reports_redis_and_rasa(gw, make_gateway):
    resp = await gw.client.get("/health")
    assert await resp.json() == {"status": "ok", "redis": True, "rasa": True}
    dead = await make_gateway(
        redis_url=f"redis://127.0.0.1:{free_port()}/0", rasa_url=f"http://127.0.0.1:{free_port()}"
    )
    resp = await dead.client.get("/health")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok", "redis": False, "rasa": False}


def parse_metrics(text: str) -> dict[str, float]:
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* \S", line), line
            continue
        match = SAMPLE_LINE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        samples[match[1] + (match[2] or "")] = float(match[3])
    return samples


async def test_metrics_are_prometheus_text(gw, rasa):
    await gw.chat({"message": "hi"})
    await gw.client.post("/v1/chat", json={"message": "hi"})  # 401
    rasa.mode = "empty"
    await gw.chat({"message": "hi"})
    resp = await gw.client.get("/metrics")
    assert resp.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse_metrics(await resp.text())
    assert samples['gateway_requests_total{route="/v1/chat",status="200"}'] == 2
    assert samples['gateway_requests_total{route="/v1/chat",status="401"}'] == 1
    assert samples['gateway_auth_failures_total{reason="missing"}'] == 1
    assert samples['gateway_fallbacks_total{reason="empty"}'] == 1
    assert samples["segment_lookups_total"] == 2
    buckets = [
        (k, v)
        for k, v in samples.items()
        if k.startswith("gateway_request_duration_seconds_bucket{") and 'route="/v1/chat"' in k
    ]
    counts = [v for _, v in buckets]  # in the order of their bounds, +Inf last
    assert counts == sorted(counts) and 'le="+Inf"' in buckets[-1][0] and counts[-1] == 3
    assert samples['gateway_request_duration_seconds_count{route="/v1/chat"}'] == 3
    assert samples['gateway_request_duration_seconds_sum{route="/v1/chat"}'] > 0


async def test_fuzzed_urls_do_not_create_metric_series(gw):
    for i in range(5):
        await gw.client.get(f"/random/{i}")
    samples = parse_metrics(await gw.metrics())
    assert samples['gateway_requests_total{route="unmatched",status="404"}'] == 5
    assert not any("/random/" in key for key in samples)


async def test_unknown_routes_and_methods_are_json(gw):
    resp = await gw.client.get("/no/such/page")
    assert resp.status == 404 and "error" in await resp.json()
    resp = await gw.client.post("/nope", json={})
    assert resp.status == 404 and "error" in await resp.json()
    resp = await gw.client.get("/v1/chat")
    assert resp.status == 405 and resp.headers["Allow"] == "POST"
    assert "error" in await resp.json()
    resp = await gw.client.delete("/health")
    assert resp.status == 405 and "error" in await resp.json()


async def test_static_chat_page_is_served_at_root(make_gateway, tmp_path):
    (tmp_path / "index.html").write_text("<title>chat</title>")
    (tmp_path / "chat.js").write_text("console.log(1)")
    (tmp_path / ".env").write_text("SECRET=1")
    gw = await make_gateway(static_dir=tmp_path)
    resp = await gw.client.get("/")
    assert resp.status == 200 and "<title>chat</title>" in await resp.text()
    assert resp.content_type == "text/html"
    assert (await gw.client.get("/chat.js")).status == 200
    assert (await gw.client.get("/.env")).status == 404
    assert (await gw.client.get("/../conftest.py")).status == 404
    assert (await gw.client.get("/%2e%2e/conftest.py")).status == 404
    assert (await gw.client.post("/chat.js")).status == 404


@pytest.mark.parametrize("persona", PERSONAS)
async def test_demo_login_issues_a_chat_token(gw, rasa, persona):
    resp = await gw.client.post("/demo/login", json={"persona": persona})
    assert resp.status == 200
    body = await resp.json()
    assert body["persona"] == persona and body["expires_in"] == gw.config.token_ttl
    expected = {
        "frequent_buyer": "user_frequent",
        "bargain_hunter": "user_bargain",
        "tech_enthusiast": "user_enthusiast",
        "casual_browser": "user_casual",
        "new_visitor": "user_newcomer",
    }
    if persona == "default":
        assert re.fullmatch(r"guest_[0-9a-f]{16}", body["sender"])
    else:
        assert body["sender"] == expected[persona]
    chat = await gw.client.post(
        "/v1/chat",
        json={"message": "hi"},
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert chat.status == 200 and rasa.calls[-1]["sender"] == body["sender"]


async def test_demo_login_refuses_unknown_personas_and_is_off_unless_enabled(gw, make_gateway):
    resp = await gw.client.post("/demo/login", json={"persona": "admin"})
    assert resp.status == 400
    off = await make_gateway(demo_login=False)
    resp = await off.client.post("/demo/login", json={"persona": "bargain_hunter"})
    assert resp.status == 404 and "error" in await resp.json()
    assert "/demo/login" not in (await (await off.client.get("/openapi.json")).json())["paths"]


# ---- OpenAPI --------------------------------------------------------------------------


def resolve_refs(node, doc):
    """Assert every $ref points at something in the document."""
    if isinstance(node, dict):
        if "$ref" in node:
            target = doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                assert part in target, f"dangling $ref {node['$ref']}"
                target = target[part]
        for value in node.values():
            resolve_refs(value, doc)
    elif isinstance(node, list):
        for value in node:
            resolve_refs(value, doc)


async def test_openapi_document_lists_every_route(gw):
    resp = await gw.client.get("/openapi.json")
    assert resp.status == 200
    doc = json.loads(await resp.text())
    assert doc["openapi"].startswith("3.0.") and doc["info"]["title"]
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = {
        (route.resource.canonical, route.method)
        for route in gw.app.router.routes()
        if route.method != "HEAD"
    }
    assert documented == served
    resolve_refs(doc, doc)
    for name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft4Validator.check_schema(schema), name
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert op["responses"] and op["operationId"]
            for status, response in op["responses"].items():
                assert status.isdigit(), (path, status)
                ref = response.get("$ref", "")
                response = (
                    doc["components"]["responses"][ref.rsplit("/", 1)[-1]] if ref else response
                )
                assert "content" in response, (path, status)


def schema_of(doc, name):
    return jsonschema.Draft4Validator(doc["components"]["schemas"][name])


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": "u1", "amount": 1},
        {"user_id": "u1", "amount": 0.01, "category": "", "order_id": "", "timestamp": 0},
        {"user_id": "u1", "amount": 0},
        {"user_id": "u1", "amount": 1e9 + 1},
        {"user_id": "", "amount": 1},
        {"user_id": "a\tb", "amount": 1},
        {"user_id": "u1", "amount": True},
        {"user_id": "u1", "amount": 1, "category": "c\x7f"},
        {"user_id": "u1", "amount": 1, "timestamp": 5e9},
        {"user_id": "u1", "amount": 1, "timestamp": "2026-11-30T14:05:00+01:00"},
        {"user_id": "u1", "amount": 1, "timestamp": "2026-11-30T13:05:00.5Z"},
        {"user_id": "u1", "amount": 1, "timestamp": "2026-11-30T14:05:00"},
        {"user_id": "u1", "amount": 1, "timestamp": "yesterday"},
        {"user_id": "u1", "amount": 1, "timestamp": True},
        {"user_id": "u1", "amount": 1, "extra": 1},
        {"amount": 1},
    ],
)
async def test_purchase_schema_matches_the_validator(gw, body):
    doc = await (await gw.client.get("/openapi.json")).json()
    documented_valid = schema_of(doc, "PurchaseRequest").is_valid(body)
    try:
        parse_purchase(body)
        accepted = True
    except ApiError:
        accepted = False
    assert documented_valid == accepted


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": "u1"},
        {"user_id": "u1", "product": "", "category": "", "quantity": 1, "timestamp": 0},
        {"user_id": "u1", "product": "Voltbook", "quantity": 10_000},
        {"user_id": "u1", "timestamp": "2026-11-30T13:05:00Z"},
        {"user_id": "u1", "timestamp": "2026-11-30T13:05:00-05:00"},
        {"user_id": "u1", "timestamp": "2026-11-30T13:05:00"},
        {"user_id": "u1", "timestamp": "30/11/2026 13:05"},
        {"user_id": "u1", "timestamp": -1},
        {"user_id": "u1", "quantity": 0},
        {"user_id": "u1", "quantity": 10_001},
        {"user_id": "u1", "quantity": 1.5},
        {"user_id": "u1", "quantity": True},
        {"user_id": "u1", "product": "p" * 129},
        {"user_id": "u1", "order_id": "o1"},
        {"user_id": ""},
        {"quantity": 1},
    ],
)
async def test_cart_schema_matches_the_validator(gw, body):
    doc = await (await gw.client.get("/openapi.json")).json()
    documented_valid = schema_of(doc, "CartRequest").is_valid(body)
    try:
        parse_cart(body)
        accepted = True
    except ApiError:
        accepted = False
    assert documented_valid == accepted


@pytest.mark.parametrize(
    "body",
    [
        {"message": "hi"},
        {"message": "hi", "sender": "x", "metadata": {"a": [1]}},
        {"message": ""},
        {"message": " \n"},
        {"message": "x" * 2001},
        {"message": "hi", "metadata": "x"},
        {"message": "hi", "other": 1},
        {"sender": "x"},
    ],
)
async def test_chat_schema_matches_the_validator(gw, body):
    doc = await (await gw.client.get("/openapi.json")).json()
    documented_valid = schema_of(doc, "ChatRequest").is_valid(body)
    try:
        parse_chat(body, gw.config.max_message_chars)
        accepted = True
    except ApiError:
        accepted = False
    assert documented_valid == accepted


HOSTILE_BODIES = [
    b"",
    b"null",
    b"{}",
    b'{"message": "\\ud800", "metadata": {"\\ud800": "\\udfff"}}',
    b'{"message": "hi", "metadata": {"a": {"b": {"c": [1e308, -1e308, 1e-320]}}}}',
    b'{"user_id": "\\ud800", "amount": 1e308, "category": "\\u0000"}',
    b'{"user_id": "u", "amount": 99999999999999999999999999999999999999999}',
    b'{"persona": ["default"]}',
    b'{"grant_type": "client_credentials", "client_id": "\\ud800", "client_secret": "\\udfff"}',
    b"grant_type=client_credentials&client_id=%FF&client_secret=%ZZ",
    b'{"message": "' + "é".encode() * 3000 + b'"}',
    '{"message": "hi"}'.encode("utf-16"),
]
HOSTILE_HEADERS = [
    {},
    {"Content-Type": "application/json"},
    {"Content-Type": "application/json; charset=utf-8", "X-Timezone": "../UTC", "X-Region": "ÉÉ"},
    {"Content-Type": "application/x-www-form-urlencoded"},
    {"Content-Type": "application/json", "Authorization": "Bearer ..."},
    {"Content-Type": "application/json", "Authorization": "Basic Og=="},
    {"Content-Type": "application/json", "X-Forwarded-For": "::::, 999.1.1.1"},
]


async def test_hostile_requests_get_documented_json_errors(make_gateway, rasa):
    """A miniature fuzz run: no 500, and every status is one the document lists."""
    gw = await make_gateway(trusted_proxies=(ipaddress.ip_network("127.0.0.1/32"),))
    doc = await (await gw.client.get("/openapi.json")).json()
    odd_token = gw.token("\ud800", scopes=("chat", "ingest"))
    for path, ops in doc["paths"].items():
        documented = {int(status) for status in ops.get("post", {}).get("responses", {})}
        if not documented:
            continue
        for body in HOSTILE_BODIES:
            for headers in [*HOSTILE_HEADERS, {"Authorization": f"Bearer {odd_token}"}]:
                headers = {"Content-Type": "application/json", **headers}
                resp = await gw.client.post(path, data=body, headers=headers)
                assert resp.status in documented, (path, body[:60], headers, resp.status)
                if resp.status >= 400:
                    assert isinstance((await resp.json())["error"], str)
    assert 'status="500"' not in await gw.metrics()
