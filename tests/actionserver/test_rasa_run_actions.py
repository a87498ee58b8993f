"""Plain `rasa run actions`, as a developer would start it. rasa-sdk's plugin hook
(rasa_sdk_plugins -> actionserver/plugin.py) puts the hardened endpoints in front of
rasa-sdk's routes: the shared secret, the body limit, JSON errors that never echo the
request, the per-action deadline; and it refuses a start on every interface."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
import requests

from actionserver.secret import TOKEN_HEADER
from core.settings import Settings
from personalization.store import ProfileStore
from privacy.consent import GRANTED, record_consent
from tests.servers import (
    ACTION_SECRET,
    PSEUDONYM_KEY,
    ROOT,
    VENV_BIN,
    Service,
    free_port,
    rasa_env,
)

TRACKER = json.loads((ROOT / "tests" / "data" / "recommend_phones.json").read_text())
MAX_BODY = 256 * 1024
CANARY = "CANARY-7f3a"


@pytest.fixture(scope="module")
def sdk_server(redis_url: str):
    port = free_port()
    env = rasa_env() | {
        "PZ_REDIS_URL": redis_url,
        "PZ_NAMESPACE": "tsdk",
        "SANIC_HOST": "127.0.0.1",  # rasa-sdk's own default is every interface
        "PZ_ACTION_MAX_BODY_BYTES": str(MAX_BODY),
    }
    service = Service(
        "rasa-run-actions",
        [str(VENV_BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(port)],
        f"http://127.0.0.1:{port}/health",
        env,
    ).start(timeout=120)
    yield f"http://127.0.0.1:{port}"
    service.stop()


def call(base: str, action: str, sender: str) -> dict:
    tracker = json.loads(json.dumps(TRACKER)) | {"sender_id": sender}
    body = {"next_action": action, "tracker": tracker, "domain": {}, "version": "3.6.2"}
    resp = requests.post(
        f"{base}/webhook", json=body, timeout=30, headers={TOKEN_HEADER: ACTION_SECRET}
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_actions_need_the_shared_secret(sdk_server):
    body = {"next_action": "action_greet", "tracker": TRACKER, "domain": {}}
    for headers in ({}, {TOKEN_HEADER: "wrong-" + "x" * 20}):
        resp = requests.post(f"{sdk_server}/webhook", json=body, headers=headers, timeout=30)
        assert resp.status_code == 401 and resp.json() == {
            "error": f"missing or wrong {TOKEN_HEADER}"
        }
        assert requests.get(f"{sdk_server}/actions", headers=headers, timeout=30).status_code == 401
    listed = requests.get(
        f"{sdk_server}/actions", headers={TOKEN_HEADER: ACTION_SECRET}, timeout=30
    )
    assert {"name": "action_greet"} in listed.json()
    # The hardened /health, with its counters (rasa-sdk's own says only "ok"), and /metrics.
    health = requests.get(f"{sdk_server}/health", timeout=30).json()
    assert health["status"] == "ok" and health["unauthorized"] >= 2
    metrics = requests.get(f"{sdk_server}/metrics", timeout=30).text
    assert 'action_server_refused_requests_total{reason="unauthorized"}' in metrics


def test_bad_bodies_get_short_json_errors_that_never_echo_the_request(sdk_server):
    headers = {TOKEN_HEADER: ACTION_SECRET, "Content-Type": "application/json"}
    broken = requests.post(
        f"{sdk_server}/webhook", data=f'{{"next_action": "{CANARY}", ', headers=headers, timeout=30
    )
    assert broken.status_code == 400 and CANARY not in broken.text
    assert broken.json() == {"error": "request body is not valid JSON"}
    unknown = requests.post(
        f"{sdk_server}/webhook",
        json={"next_action": "action_nope", "tracker": TRACKER, "domain": {}},
        headers=headers,
        timeout=30,
    )
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown action"
    huge = requests.post(
        f"{sdk_server}/webhook", data=b"x" * (MAX_BODY + 1), headers=headers, timeout=30
    )
    assert huge.status_code == 413 and "x" * 100 not in huge.text


def test_it_refuses_to_start_on_every_interface(redis_url: str):
    """rasa-sdk reads SANIC_HOST after the hook (default 0.0.0.0): the hook refuses it."""
    env = rasa_env() | {"PZ_REDIS_URL": redis_url, "PZ_NAMESPACE": "tsdk"}
    env.pop("SANIC_HOST")
    port = free_port()
    started = subprocess.run(
        [str(VENV_BIN / "rasa"), "run", "actions", "--actions", "actions", "--port", str(port)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert started.returncode != 0
    assert "`rasa run actions` would listen on 0.0.0.0" in started.stdout + started.stderr


async def test_every_action_builds_its_services_and_answers_in_the_users_persona(
    sdk_server, redis_url
):
    sender = f"sdk_{uuid.uuid4().hex[:8]}"
    env = {"PZ_REDIS_URL": redis_url, "PZ_NAMESPACE": "tsdk", "PZ_PSEUDONYM_KEY": PSEUDONYM_KEY}
    store = ProfileStore.from_settings(Settings.from_env(env))  # keyed as the server keys
    await store.put_profile(sender, {"segment": "bargain_hunter"})
    await record_consent(store.client, "tsdk", sender, GRANTED, "rest", store.pseudonym_key)
    try:
        recommended = call(sdk_server, "action_recommend_products", sender)
        greeted = call(sdk_server, "action_greet", sender)
    finally:
        await store.client.delete(store.keys.profile(sender), store.keys.consent(sender))
        await store.close()

    texts = [m["text"] for m in recommended["responses"]]
    # The persona's list (an experiment arm may put a line about savings before it).
    assert "Best-value smartphones for you:" in texts[0]
    assert {"event": "slot", "name": "segment", "value": "bargain_hunter"}.items() <= next(
        e for e in recommended["events"] if e.get("name") == "segment"
    ).items()
    assert greeted["responses"] and greeted["responses"][0]["text"]


def test_generator_outcomes_are_prometheus_series_that_follow_the_counts():
    """The model server exports no metrics; the action server's /metrics shows why answers
    were or were not written by it, from the counts the generator keeps."""
    from collections import Counter

    from actionserver.action_metrics import ActionMetrics

    metrics, outcomes = ActionMetrics(), Counter({"written": 2, "timeout": 1})
    metrics.watch_generator(lambda: outcomes)
    outcomes["written"] += 1
    lines = [line for line in metrics.render().decode().splitlines() if line.startswith("pz_")]
    assert lines == [
        'pz_generator_answers_total{outcome="timeout"} 1.0',
        'pz_generator_answers_total{outcome="written"} 3.0',
    ]
