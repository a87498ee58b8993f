"""GET /v1/me/data and POST /v1/privacy/erase on a real gateway with a real Redis."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from core.redis_keys import UserKeys
from gateway import privacy_routes
from gateway.handlers import GATEWAY
from privacy.audit import find_traces
from privacy.consent import record_consent
from tests.servers import free_port

ERASE = "/v1/privacy/erase"


def ops(gw) -> dict[str, str]:
    return gw.bearer("ops", scopes=("privacy",))


def user_keys(gw) -> UserKeys:
    """Key names as the gateway's privacy routes build them (its pseudonym key)."""
    app_gateway = gw.client.app[GATEWAY]
    return UserKeys(gw.config.namespace, privacy_routes.keyring(app_gateway).pseudonym_key)


async def seed(redis_url: str, gw, user: str) -> aioredis.Redis:
    client = aioredis.Redis.from_url(redis_url)
    ns, keys = gw.config.namespace, user_keys(gw)
    await client.hset(keys.profile(user), mapping={"segment": "bargain_hunter"})
    await client.hset(keys.live(user), mapping={"messages": 2})
    await record_consent(client, ns, user, "granted", "web", keys.pseudonym_key)
    await client.xadd(f"{ns}:events", {"event": f'{{"sender_id": "{user}"}}'})
    return client


async def test_a_user_exports_their_own_data_and_nobody_elses(gw, redis_url):
    client = await seed(redis_url, gw, "user_bargain")

    resp = await gw.client.get("/v1/me/data", headers=gw.bearer("user_bargain"))
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    data = await resp.json()
    assert data["user_id"] == "user_bargain" and data["profile"]["segment"] == "bargain_hunter"
    assert data["consent"]["status"] == "granted" and data["live_features"]["messages"] == "2"

    other = await (await gw.client.get("/v1/me/data", headers=gw.bearer("someone"))).json()
    assert other["profile"] is None and other["consent"] is None
    assert (await gw.client.get("/v1/me/data")).status == 401
    ingest_only = gw.bearer("crm", scopes=("ingest",))
    assert (await gw.client.get("/v1/me/data", headers=ingest_only)).status == 403
    await client.close()


async def test_operators_erase_a_list_of_users_with_a_receipt(gw, redis_url):
    ns = gw.config.namespace
    client = await seed(redis_url, gw, "gone_1")
    await seed(redis_url, gw, "gone_2")
    await seed(redis_url, gw, "stays")

    resp = await gw.client.post(ERASE, json={"user_ids": ["gone_1", "gone_2"]}, headers=ops(gw))

    assert resp.status == 200, await resp.text()
    receipt = (await resp.json())["erased"]
    assert set(receipt) == {"gone_1", "gone_2"}
    assert receipt["gone_1"]["profile"] == 1 and receipt["gone_1"]["consent"] == 1
    assert receipt["gone_1"]["live_features"] == 1 and receipt["gone_1"]["stream:events"] == 1
    assert await find_traces(client, ["gone_1", "gone_2"], f"{ns}:*") == []
    assert await client.exists(user_keys(gw).profile("stays"))
    await client.close()


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"user_ids": []}, 400, "at least one"),
        ({"user_ids": "u1"}, 400, "must be a list"),
        ({"user_ids": [""]}, 400, "non-empty strings"),
        ({"user_ids": [1]}, 400, "non-empty strings"),
        ({"user_ids": ["u"] * 1001}, 400, "at most 1000"),
        ({"user_ids": ["u"], "all": True}, 400, "unknown field"),
        ([], 400, "JSON object"),
    ],
)
async def test_bad_erase_requests_get_a_clear_400(gw, body, status, message):
    resp = await gw.client.post(ERASE, json=body, headers=ops(gw))
    assert resp.status == status
    assert message in (await resp.json())["error"]


async def test_erasure_needs_the_privacy_scope(gw):
    body = {"user_ids": ["user_bargain"]}
    assert (await gw.client.post(ERASE, json=body)).status == 401
    chat_token = gw.bearer("user_bargain")
    assert (await gw.client.post(ERASE, json=body, headers=chat_token)).status == 403


async def test_redis_down_means_503_not_500(make_gateway):
    gw = await make_gateway(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    resp = await gw.client.post(ERASE, json={"user_ids": ["u1"]}, headers=ops(gw))
    assert resp.status == 503 and resp.headers["Retry-After"] == "5"
    resp = await gw.client.get("/v1/me/data", headers=gw.bearer("u1"))
    assert resp.status == 503
