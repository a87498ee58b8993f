"""Plain `rasa run actions`, as a developer would start it: rasa-sdk creates every action
without arguments, and each builds its services from the environment on first use."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from core.settings import Settings
from personalization.store import ProfileStore
from privacy.consent import GRANTED, record_consent
from tests.servers import PSEUDONYM_KEY, ROOT, VENV_BIN, Service, free_port, rasa_env

TRACKER = json.loads((ROOT / "tests" / "data" / "recommend_phones.json").read_text())


@pytest.fixture(scope="module")
def sdk_server(redis_url: str):
    port = free_port()
    env = rasa_env() | {
        "PZ_REDIS_URL": redis_url,
        "PZ_NAMESPACE": "tsdk",
        "SANIC_HOST": "127.0.0.1",  # rasa-sdk's own default is every interface
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
    resp = requests.post(f"{base}/webhook", json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()


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
