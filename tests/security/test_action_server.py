"""The hardened action server (actionserver/) against careless and hostile callers.

The real server runs as a subprocess (``python -m actionserver``) on a free loopback port
with a real Redis; the deadline tests drive an in-process app built from test-only actions
(tests/security/slow_actions/). Every fuzz payload carries a canary string that must never
come back; the summary goes to var/security/action_fuzz.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
import yaml
from sanic import Sanic

from actionserver.app import create_server_app
from actionserver.secret import TOKEN_HEADER, SecretError
from actionserver.secret import action_secret as _action_secret
from core.limits import ACTION_FALLBACK_TEXT as FALLBACK_TEXT
from core.limits import fallback_payload
from core.settings import Settings
from tests.security.slow_actions import actions as slow_actions
from tests.servers import ROOT, VENV_BIN, Service, free_port, rasa_env

SECRET = secrets.token_hex(32)


def action_secret(env: dict[str, str], secrets_dir: Path) -> str:
    """The server's secret for an environment, as `voltmart-actions` reads it."""
    return _action_secret(Settings.from_env(env).action_server, secrets_dir)


CANARY = f"CANARY-{uuid.uuid4()}"
MAX_BODY = 1024 * 1024
REPORT = ROOT / "var" / "security" / "action_fuzz.json"
UNAUTHORIZED = {"error": f"missing or wrong {TOKEN_HEADER}"}
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text())
TRACKER = json.loads((ROOT / "tests" / "data" / "recommend_phones.json").read_text())


# ---------------------------------------------------------------- helpers


def action_call(action: str = "action_greet", **tracker: Any) -> dict[str, Any]:
    """An action call shaped like Rasa's (RemoteAction._action_call_format), canary inside."""
    state = json.loads(json.dumps(TRACKER))
    state["sender_id"] = f"sec_{uuid.uuid4().hex[:10]}"
    state["latest_message"]["text"] = f"hello {CANARY}"
    state["events"].append({"event": "user", "text": CANARY, "timestamp": 1764000002.0})
    state.update(tracker)
    return {
        "next_action": action,
        "sender_id": state["sender_id"],
        "tracker": state,
        "domain": DOMAIN,
        "version": "3.6.21",
    }


def encode(value: Any) -> bytes:
    return json.dumps(value).encode()


def nested(depth: int) -> Any:
    value: Any = CANARY
    for _ in range(depth):
        value = [value]
    return value


@dataclass
class RawResponse:
    status: int
    body: bytes


def raw_http(
    port: int, head: bytes, parts: tuple[bytes, ...] = (), timeout: float = 5
) -> RawResponse:
    """Send bytes as they are (broken framing, no body, endless chunks); read one response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        for part in parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        header, _, body = data.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        length = next(
            (
                int(v)
                for k, _, v in (x.partition(": ") for x in lines[1:])
                if k.lower() == "content-length"
            ),
            0,
        )
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return RawResponse(int(lines[0].split()[1]), body)


def post_head(length: int | str, token: str | None = SECRET, extra: str = "") -> bytes:
    auth = f"{TOKEN_HEADER}: {token}\r\n" if token is not None else ""
    return (
        f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{auth}Content-Length: {length}\r\n{extra}\r\n"
    ).encode()


# ---------------------------------------------------------------- the real server


@dataclass
class Running:
    url: str
    port: int
    service: Service

    def post(self, body: bytes, token: str | None = SECRET, **headers: str) -> requests.Response:
        sent = {"Content-Type": "application/json", **headers}
        if token is not None:
            sent[TOKEN_HEADER] = token
        return requests.post(f"{self.url}/webhook", data=body, headers=sent, timeout=15)

    def health(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/health", timeout=5).json()


@pytest.fixture(scope="module")
def server(redis_url: str) -> Iterator[Running]:
    port = free_port()
    env = rasa_env() | {
        "PZ_REDIS_URL": redis_url,
        "PZ_ACTION_SECRET": SECRET,
        # The real actions answer; deadlines are tested below. The table must still nest.
        "PZ_ACTION_DEADLINE_MS": "5000",
        "PZ_ACTION_TIMEOUT_S": "6",
        "PZ_TURN_DEADLINE_S": "7",
        "PZ_GATEWAY_RASA_TIMEOUT_S": "8",
        "PZ_ACTION_MAX_BODY_BYTES": str(MAX_BODY),
    }
    service = Service(
        "actions-secure",
        [str(VENV_BIN / "python"), "-m", "actionserver", "--port", str(port)],
        f"http://127.0.0.1:{port}/health",
        env,
    )
    service.start(timeout=90)
    try:
        yield Running(f"http://127.0.0.1:{port}", port, service)
    finally:
        service.stop()


def test_health_is_open_and_counts(server: Running):
    resp = requests.get(f"{server.url}/health", timeout=5)

    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"
    assert {"deadline_fallbacks", "errors"} <= resp.json().keys()


@pytest.mark.parametrize("token", [None, "", "wrong", SECRET[:-1], SECRET + "x", SECRET.upper()])
def test_webhook_needs_the_exact_token(server: Running, token: str | None):
    resp = server.post(encode(action_call()), token=token)

    assert resp.status_code == 401
    assert resp.json() == UNAUTHORIZED


def test_action_list_needs_the_token(server: Running):
    anonymous = requests.get(f"{server.url}/actions", timeout=5)
    listed = requests.get(f"{server.url}/actions", headers={TOKEN_HEADER: SECRET}, timeout=5)

    assert anonymous.status_code == 401 and anonymous.json() == UNAUTHORIZED
    assert listed.status_code == 200
    assert {"name": "action_greet"} in listed.json()


def test_token_is_checked_before_the_body_is_read(server: Running):
    """Headers announcing 50 MB and no body at all: the 401 comes at once."""
    started = time.monotonic()
    resp = raw_http(server.port, post_head(50_000_000, token=None))

    assert resp.status == 401 and json.loads(resp.body) == UNAUTHORIZED
    assert time.monotonic() - started < 2


def test_greet_through_the_webhook(server: Running):
    resp = server.post(encode(action_call()), token=None, **{TOKEN_HEADER.lower(): SECRET})

    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert isinstance(result["events"], list)
    texts = [m["text"] for m in result["responses"]]
    assert texts and texts[0] and FALLBACK_TEXT not in texts
    assert CANARY not in resp.text


@pytest.mark.parametrize("quoted", [False, True])
async def test_rasa_endpoint_config_sends_the_token(
    server: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, quoted: bool
):
    """Rasa's own client, configured as endpoints.yml must be: ``${PZ_ACTION_SECRET}``
    unquoted, since Rasa 3.6 leaves quoted ``"${...}"`` as it is."""
    from rasa.utils.endpoints import ClientResponseError, read_endpoint_config

    value = '"${PZ_ACTION_SECRET}"' if quoted else "${PZ_ACTION_SECRET}"
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        f'action_endpoint:\n  url: "{server.url}/webhook"\n'
        f"  headers:\n    {TOKEN_HEADER}: {value}\n"
    )
    monkeypatch.setenv("PZ_ACTION_SECRET", SECRET)
    endpoint = read_endpoint_config(str(endpoints), "action_endpoint")

    if quoted:
        with pytest.raises(ClientResponseError) as refused:
            await endpoint.request(json=action_call(), method="post")
        assert refused.value.status == 401
        return
    result = await endpoint.request(json=action_call(), method="post", compress=True)
    assert result["responses"] and FALLBACK_TEXT not in str(result)
    with pytest.raises(ClientResponseError) as rejected:  # Rasa parses this body (400 only)
        await endpoint.request(json=action_call("action_nope"), method="post")
    assert rejected.value.status == 404 and CANARY not in str(rejected.value.text)


def test_non_loopback_host_is_refused():
    proc = subprocess.run(
        [sys.executable, "-m", "actionserver", "--host", "0.0.0.0", "--port", "1"],
        cwd=ROOT,
        env=rasa_env() | {"PZ_ACTION_SECRET": SECRET},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("Error: refusing to listen on 0.0.0.0")


# ---------------------------------------------------------------- fuzzing the real server


@dataclass
class Case:
    name: str
    body: bytes | Callable[[], bytes]
    expect: set[int]
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    path: str = "/webhook"


def _with(call: dict[str, Any], **changes: Any) -> bytes:
    return encode({**call, **changes})


def _without(call: dict[str, Any], key: str) -> bytes:
    return encode({k: v for k, v in call.items() if k != key})


CASES = [
    Case("not JSON", f"this is not json {CANARY}".encode(), {400}),
    Case("empty body", b"", {400}),
    Case("JSON list", lambda: encode([action_call()]), {400}),
    Case("JSON string", encode(CANARY), {400}),
    Case("JSON null", b"null", {400}),
    Case("missing next_action", lambda: _without(action_call(), "next_action"), {400}),
    Case("next_action is a number", lambda: _with(action_call(), next_action=42), {400}),
    Case("next_action is a list", lambda: _with(action_call(), next_action=[CANARY]), {400}),
    Case("unknown action", lambda: encode(action_call("action_does_not_exist")), {404}),
    Case("unknown action, 10 kB name", lambda: encode(action_call("x" * 10_000)), {404}),
    Case(
        "lone surrogate in action name",
        lambda: encode(action_call()).replace(b'"action_greet"', b'"\\ud800greet"', 1),
        {404},
    ),
    Case("tracker missing", lambda: _without(action_call(), "tracker"), {400}),
    Case("tracker is a list", lambda: _with(action_call(), tracker=[CANARY]), {400}),
    Case("sender_id is a number", lambda: encode(action_call(sender_id=7)), {400}),
    Case("slots is a list", lambda: encode(action_call(slots=[CANARY])), {400}),
    Case("events is an object", lambda: encode(action_call(events={"e": CANARY})), {400}),
    Case("events hold strings", lambda: encode(action_call(events=[CANARY])), {400}),
    Case("latest_message is a string", lambda: encode(action_call(latest_message=CANARY)), {400}),
    Case("paused is a string", lambda: encode(action_call(paused=CANARY)), {400}),
    Case("active_loop is a list", lambda: encode(action_call(active_loop=[CANARY])), {400}),
    Case("followup_action is an object", lambda: encode(action_call(followup_action={})), {400}),
    Case("domain is a list", lambda: _with(action_call(), domain=[CANARY]), {400}),
    Case("version is an object", lambda: _with(action_call(), version={"v": CANARY}), {200}),
    Case(
        "intent is a list",
        lambda: encode(action_call(latest_message={"text": CANARY, "intent": [CANARY]})),
        {200},
    ),
    Case(
        "entities of the wrong shape",
        lambda: encode(
            action_call(latest_message={"text": CANARY, "entities": [{"entity": 5}, CANARY]})
        ),
        {200},
    ),
    Case(
        "slot values of odd types",
        lambda: encode(
            action_call(
                slots={
                    "segment": {"$ne": CANARY},
                    "product_category": [CANARY],
                    "experiments": CANARY,
                    "last_decision": 1e308,
                }
            )
        ),
        {200},
    ),
    Case(
        "NaN and Infinity",
        lambda: encode(action_call(slots={"segment": float("nan"), "x": float("inf")})),
        {200},
    ),
    Case("slot nested 500 deep", lambda: encode(action_call(slots={"x": nested(500)})), {200}),
    Case("JSON nested 100,000 deep", b"[" * 100_000 + b"]" * 100_000, {400}),
    Case(
        "tracker nested 50,000 deep",
        lambda: (
            b'{"next_action":"action_greet","tracker":{"sender_id":"s","slots":{"x":'
            + b"[" * 50_000
            + encode(CANARY)
            + b"]" * 50_000
            + b"}}}"
        ),
        {400},
    ),
    Case(
        "invalid UTF-8",
        lambda: encode(action_call()).replace(b"hello ", b"hello \xff\xfe\xc3(", 1),
        {400},
    ),
    Case("UTF-16 JSON", lambda: json.dumps(action_call()).encode("utf-16"), {400}),
    Case(
        "100,000-digit number",
        lambda: encode(action_call())[:-1] + b',"n":' + b"9" * 100_000 + b"}",
        {400},
    ),
    Case(
        "duplicate keys",
        lambda: encode(action_call())[:-1] + b',"next_action":"action_nope"}',
        {404},
    ),
    Case("deflate, garbage", CANARY.encode(), {400}, {"Content-Encoding": "deflate"}),
    Case(
        "deflate bomb (20 MiB inflated)",
        zlib.compress(b" " * (20 << 20), 9),
        {413},
        {"Content-Encoding": "deflate"},
    ),
    Case(
        "deflate, a valid call (Rasa's compression)",
        lambda: zlib.compress(encode(action_call())),
        {200},
        {"Content-Encoding": "deflate"},
    ),
    Case("gzip encoding", lambda: encode(action_call()), {415}, {"Content-Encoding": "gzip"}),
    Case(
        "text/plain content type",
        lambda: encode(action_call()),
        {200},
        {"Content-Type": "text/plain"},
    ),
    Case("valid call with canaries everywhere", lambda: encode(action_call()), {200}),
    Case("GET /webhook", b"", {405}, method="GET"),
    Case("PUT /actions", encode(CANARY), {405}, method="PUT", path="/actions"),
    Case("unknown path naming the canary", b"", {404}, method="GET", path=f"/{CANARY}"),
    Case(
        "unknown path with a query",
        b"",
        {404},
        method="GET",
        path=f"/webhook/../admin?q={CANARY}",
    ),
]


RAW_CASES: list[tuple[str, Callable[[int], RawResponse], set[int]]] = [
    (
        "Content-Length over the cap, body never sent",
        lambda port: raw_http(port, post_head(MAX_BODY + 1)),
        {413},
    ),
    (
        "chunked body past the cap",
        lambda port: raw_http(
            port,
            post_head(0, extra="Transfer-Encoding: chunked\r\n").replace(
                b"Content-Length: 0\r\n", b""
            ),
            tuple(b"10000\r\n" + CANARY.encode().ljust(0x10000, b"x") + b"\r\n" for _ in range(18)),
        ),
        {413},
    ),
    (
        "Content-Length not a number",
        lambda port: raw_http(port, post_head("12abc") + CANARY.encode()),
        {400},
    ),
    (
        "garbage request line",
        lambda port: raw_http(port, f"\x01{CANARY} /webhook HTTP/9.9\r\n\r\n".encode()),
        {400},
    ),
]


@pytest.fixture(scope="module")
def fuzz_log(server: Running) -> Iterator[list[dict[str, Any]]]:
    """Every fuzz exchange; written to var/security/action_fuzz.json when the module ends."""
    log: list[dict[str, Any]] = []
    yield log
    alive = server.service.proc is not None and server.service.proc.poll() is None
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(
        json.dumps(
            {
                "server": "python -m actionserver",
                "canary": CANARY,
                "payloads_sent": len(log),
                "server_errors_5xx": [e for e in log if e["status"] >= 500],
                "echoes_found": [e for e in log if e["echo"]],
                "unexpected_status": [e for e in log if not e["as_expected"]],
                "alive_after": alive,
                "health_after": server.health() if alive else None,
                "exchanges": log,
            },
            indent=2,
        )
        + "\n"
    )


def _record(log: list, name: str, sent: int, status: int, body: bytes, expect: set[int]) -> dict:
    entry = {
        "payload": name,
        "bytes_sent": sent,
        "status": status,
        "expected": sorted(expect),
        "as_expected": status in expect,
        "echo": CANARY.encode() in body,
        "response_bytes": len(body),
        "response": body[:300].decode("utf-8", "replace"),
    }
    log.append(entry)
    return entry


def _small_json(body: bytes) -> Any:
    assert len(body) < 1000, body[:300]
    return json.loads(body)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fuzzed_request(server: Running, fuzz_log: list, case: Case):
    body = case.body() if callable(case.body) else case.body
    headers = {"Content-Type": "application/json", TOKEN_HEADER: SECRET, **case.headers}
    resp = requests.request(
        case.method, server.url + case.path, data=body, headers=headers, timeout=15
    )

    entry = _record(fuzz_log, case.name, len(body), resp.status_code, resp.content, case.expect)

    assert resp.status_code < 500, entry
    assert not entry["echo"], entry
    assert resp.status_code in case.expect, entry
    if resp.status_code != 200:
        error = _small_json(resp.content)
        assert isinstance(error["error"], str)
        assert set(error) <= {"error", "action_name"}
        assert len(error.get("action_name", "")) <= 100


@pytest.mark.parametrize("name,send,expect", RAW_CASES, ids=[c[0] for c in RAW_CASES])
def test_fuzzed_raw_http(server: Running, fuzz_log: list, name: str, send: Callable, expect: set):
    resp = send(server.port)

    entry = _record(fuzz_log, name, -1, resp.status, resp.body, expect)

    assert resp.status < 500 and not entry["echo"] and resp.status in expect, entry
    assert set(_small_json(resp.body)) == {"error"}


def test_server_survives_the_fuzzing(server: Running, fuzz_log: list):
    resp = server.post(encode(action_call()))

    assert server.service.proc is not None and server.service.proc.poll() is None
    assert resp.status_code == 200 and FALLBACK_TEXT not in resp.text
    assert server.health()["status"] == "ok"
    assert "internal error handling" not in server.service.log.read_text(errors="replace")


# ---------------------------------------------------------------- secrets


def test_secret_from_env_then_file_then_dev_file(tmp_path: Path):
    named = tmp_path / "named"
    named.write_text("f" * 40 + "\n")

    assert action_secret({"PZ_ACTION_SECRET": " " + "e" * 32 + " "}, tmp_path) == "e" * 32
    assert action_secret({"PZ_ACTION_SECRET_FILE": str(named)}, tmp_path) == "f" * 40
    dev = action_secret({}, tmp_path / "secrets")
    assert action_secret({"PZ_ACTION_SECRET": ""}, tmp_path / "secrets") == dev
    assert len(dev) == 64
    assert (tmp_path / "secrets" / "action_secret").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "env",
    [
        {"PZ_ACTION_SECRET": "short"},
        {"PZ_ACTION_SECRET": "a$" * 10},
        {"PZ_ACTION_SECRET_FILE": "/nonexistent/x"},
    ],
)
def test_unusable_secrets_are_refused(tmp_path: Path, env: dict[str, str]):
    with pytest.raises(SecretError):
        action_secret(env, tmp_path)


def test_print_secret_path_for_shell_scripts(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PZ_ACTION_SECRET")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "actionserver",
            "--print-secret-path",
            "--secrets-dir",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.strip())
    assert path == tmp_path / "action_secret"
    assert action_secret({"PZ_ACTION_SECRET_FILE": str(path)}, tmp_path) == path.read_text()


# ---------------------------------------------------------------- deadlines, in process


@pytest.fixture
async def slow_server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """create_server_app over tests/security/slow_actions with a 200 ms deadline."""
    # Sanic 21.12 rewrites its own methods at start-up; test mode lets it do that once per app.
    monkeypatch.setattr(Sanic, "test_mode", True)
    app = create_server_app("tests.security.slow_actions", SECRET, deadline_s=0.2)
    port = free_port()
    srv = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    await srv.startup()
    await srv.before_start()
    await srv.after_start()
    slow_actions.CANCELLED.clear()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for _ in range(50):  # let cancelled actions finish unwinding
            if not app.ctx.runner.running:
                break
            await asyncio.sleep(0.05)
        await srv.before_stop()
        srv.close()
        await srv.wait_closed()
        await srv.after_stop()


async def _call(base: str, action: str) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/webhook", json=action_call(action), headers={TOKEN_HEADER: SECRET}
        ) as resp:
            text = await resp.text()
    assert CANARY not in text
    return resp.status, json.loads(text), time.monotonic() - started


async def _health(base: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/health") as resp:
            return await resp.json()


def _texts(result: dict[str, Any]) -> list[str]:
    return [m["text"] for m in result["responses"]]


async def test_slow_action_is_cancelled_and_answered_with_the_fallback(slow_server: str):
    before = await _health(slow_server)

    status, result, took = await _call(slow_server, "action_too_slow")
    await asyncio.sleep(0.05)

    assert status == 200 and took < 1.5
    assert result["events"] == [] and _texts(result) == [FALLBACK_TEXT]
    # Marked as an apology, so the gateway counts it (core/limits.py, fallback_payload).
    assert result["responses"][0]["custom"] == fallback_payload("action", "deadline")
    assert slow_actions.CANCELLED == ["action_too_slow"]
    after = await _health(slow_server)
    assert after["deadline_fallbacks"] == before["deadline_fallbacks"] + 1


async def test_action_ignoring_cancellation_does_not_hold_the_answer(slow_server: str):
    status, result, took = await _call(slow_server, "action_ignores_cancel")

    assert status == 200 and _texts(result) == [FALLBACK_TEXT]
    assert took < 0.6  # the action keeps going 0.5 s after its cancellation


async def test_failing_action_answers_the_fallback_without_echoing(slow_server: str):
    before = await _health(slow_server)

    status, result, _ = await _call(slow_server, "action_fails_quoting_tracker")

    assert status == 200 and result["events"] == [] and _texts(result) == [FALLBACK_TEXT]
    assert result["responses"][0]["custom"] == fallback_payload("action", "error")
    assert (await _health(slow_server))["errors"] == before["errors"] + 1


async def test_rejection_keeps_the_shape_rasa_parses(slow_server: str):
    status, result, _ = await _call(slow_server, "action_rejects")

    assert status == 400
    assert result == {"error": "this action cannot run now", "action_name": "action_rejects"}


async def test_quick_action_is_untouched(slow_server: str):
    status, result, _took = await _call(slow_server, "action_quick")

    assert status == 200 and _texts(result) == ["quick answer"]
    assert result["events"][0]["value"] == "quick"


async def _metrics(base: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/metrics") as resp:
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await resp.text()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    return samples


async def test_metrics_count_each_outcome_and_refusal(slow_server: str):
    """GET /metrics (prometheus_client): calls by action and outcome, their durations, and
    requests refused before any action ran; unknown names never become a label."""
    before = await _metrics(slow_server)
    for action in ("action_quick", "action_too_slow", "action_fails_quoting_tracker"):
        await _call(slow_server, action)
    async with aiohttp.ClientSession() as session:
        await session.post(f"{slow_server}/webhook", json=action_call("action_quick"))  # no token
        await session.post(
            f"{slow_server}/webhook",
            json=action_call("action_" + CANARY),
            headers={TOKEN_HEADER: SECRET},
        )
    after = await _metrics(slow_server)

    def grew(key: str) -> float:
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew('action_server_calls_total{action="action_quick",outcome="ok"}') == 1
    assert grew('action_server_calls_total{action="action_too_slow",outcome="deadline"}') == 1
    assert (
        grew('action_server_calls_total{action="action_fails_quoting_tracker",outcome="error"}')
        == 1
    )
    assert grew('action_server_action_duration_seconds_count{action="action_too_slow"}') == 1
    assert grew('action_server_refused_requests_total{reason="unauthorized"}') == 1
    assert grew('action_server_refused_requests_total{reason="unknown_action"}') == 1
    assert not any(CANARY in key for key in after)
