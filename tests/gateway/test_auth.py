"""Who may call: the bearer-token matrix, impersonation, and the client-credentials grant.

Rasa is the stub from conftest.py; every refused request must leave it untouched.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import replace

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.auth import key_id
from tests.gateway.conftest import BOTH_SECRET, CRM_SECRET, b64url, forge, standard_claims

HELLO = {"message": "hello"}


async def post_chat(gw, authorization: str | None):
    headers = {"Authorization": authorization} if authorization is not None else {}
    return await gw.client.post("/v1/chat", json=HELLO, headers=headers)


async def assert_refused(resp, rasa, status=401, error="invalid_token", reason_text=None):
    body = await resp.json()
    assert resp.status == status, body
    assert set(body) == {"error"} and "\n" not in body["error"]
    challenge = resp.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Bearer ") and f'error="{error}"' in challenge
    if reason_text:
        assert reason_text in body["error"]
    assert rasa.calls == []
    return body


async def test_valid_hs256_token_chats_as_its_subject(gw, rasa):
    resp = await post_chat(gw, f"Bearer {gw.token('user_casual')}")
    assert resp.status == 200
    body = await resp.json()
    assert body == {
        "sender": "user_casual",
        "messages": [{"text": "echo: hello"}],
        "fallback": False,
    }
    assert rasa.calls[0]["sender"] == "user_casual"


@pytest.mark.parametrize(
    ("authorization", "error", "reason"),
    [
        (None, "invalid_request", "missing"),
        ("", "invalid_request", "missing"),
        ("Basic dXNlcjpwdw==", "invalid_request", "malformed"),
        ("Bearer", "invalid_request", "malformed"),
        ("Bearer not-a-jwt", "invalid_token", "malformed"),
        ("Bearer a.b.c", "invalid_token", "malformed"),
        ("Bearer " + "x" * 5000, "invalid_request", "malformed"),
    ],
)
async def test_missing_or_malformed_header_is_401(gw, rasa, authorization, error, reason):
    await assert_refused(await post_chat(gw, authorization), rasa, error=error)
    assert f'gateway_auth_failures_total{{reason="{reason}"}} 1.0' in await gw.metrics()


async def test_bad_signature_is_401(gw, rasa):
    forged = gw.token(jwt_secret=b"another-secret-of-at-least-32-bytes!")
    await assert_refused(await post_chat(gw, f"Bearer {forged}"), rasa, reason_text="signature")
    assert 'gateway_auth_failures_total{reason="signature"} 1.0' in await gw.metrics()


async def test_expired_token_is_401_but_leeway_forgives_a_few_seconds(gw, rasa):
    ttl, leeway = gw.config.token_ttl, gw.config.jwt_leeway
    expired = gw.token(clock=lambda: time.time() - ttl - leeway - 30)
    await assert_refused(await post_chat(gw, f"Bearer {expired}"), rasa, reason_text="expired")
    assert 'gateway_auth_failures_total{reason="expired"} 1.0' in await gw.metrics()

    just_expired = gw.token(clock=lambda: time.time() - ttl - leeway // 2)
    assert (await post_chat(gw, f"Bearer {just_expired}")).status == 200


async def test_token_from_the_future_is_401(gw, rasa):
    future = gw.token(clock=lambda: time.time() + 3600)
    await assert_refused(await post_chat(gw, f"Bearer {future}"), rasa, reason_text="not valid yet")


@pytest.mark.parametrize(
    "override", [{"jwt_audience": "another-api"}, {"jwt_issuer": "https://evil.example"}]
)
async def test_wrong_audience_or_issuer_is_401(gw, rasa, override):
    other = gw.token(**override)
    await assert_refused(await post_chat(gw, f"Bearer {other}"), rasa, reason_text="issuer")
    assert 'gateway_auth_failures_total{reason="claims"} 1.0' in await gw.metrics()


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud", "sub"])
async def test_token_lacking_a_required_claim_is_401(gw, rasa, missing):
    claims = standard_claims(gw.config)
    del claims[missing]
    token = jwt.encode(claims, gw.config.jwt_secret, "HS256")
    await assert_refused(await post_chat(gw, f"Bearer {token}"), rasa)


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_alg_none_is_401(gw, rasa, alg):
    token = forge({"alg": alg, "typ": "JWT"}, standard_claims(gw.config))
    await assert_refused(await post_chat(gw, f"Bearer {token}"), rasa)
    assert 'gateway_auth_failures_total{reason="algorithm"} 1.0' in await gw.metrics()


async def test_rs256_token_is_refused_by_an_hs256_gateway(gw, rasa, rsa_keys):
    token = jwt.encode(standard_claims(gw.config), rsa_keys[1], "RS256")
    await assert_refused(await post_chat(gw, f"Bearer {token}"), rasa, reason_text="HS256")


@pytest.fixture
async def rs_gw(make_gateway, rsa_keys):
    return await make_gateway(jwt_algorithm="RS256", jwt_secret=None, jwt_private_key=rsa_keys[0])


async def test_valid_rs256_token_chats(rs_gw, rasa):
    resp = await post_chat(rs_gw, f"Bearer {rs_gw.token('user_enthusiast')}")
    assert resp.status == 200
    assert rasa.calls[0]["sender"] == "user_enthusiast"


async def test_hs256_token_signed_with_the_rsa_public_key_is_refused(rs_gw, rasa, rsa_keys):
    """HS/RS confusion: the public key is public, so it must never work as an HMAC secret."""
    pem = rsa_keys[0].public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT"}
    unsigned = forge(header, standard_claims(rs_gw.config)).rsplit(".", 1)[0]
    signature = hmac.new(pem, unsigned.encode(), hashlib.sha256).digest()
    token = f"{unsigned}.{b64url(signature)}"
    await assert_refused(await post_chat(rs_gw, f"Bearer {token}"), rasa, reason_text="RS256")
    assert 'gateway_auth_failures_total{reason="algorithm"} 1.0' in await rs_gw.metrics()


async def test_rs256_token_from_another_key_is_401(rs_gw, rasa, rsa_keys):
    token = jwt.encode(standard_claims(rs_gw.config), rsa_keys[1], "RS256")  # no kid: tries all
    await assert_refused(await post_chat(rs_gw, f"Bearer {token}"), rasa)
    spoofed_kid = {"kid": key_id(rsa_keys[0].public_key())}
    token = jwt.encode(standard_claims(rs_gw.config), rsa_keys[1], "RS256", headers=spoofed_kid)
    await assert_refused(await post_chat(rs_gw, f"Bearer {token}"), rasa)


async def test_verifier_only_gateway_accepts_rotated_keys_and_issues_nothing(
    make_gateway, rasa, rsa_keys
):
    """A gateway with public keys only verifies tokens signed by either key, signs none."""
    old, new = rsa_keys
    signer = await make_gateway(jwt_algorithm="RS256", jwt_secret=None, jwt_private_key=new)
    verifier = await make_gateway(
        replace(
            signer.config,
            jwt_private_key=None,
            jwt_public_keys=(old.public_key(), new.public_key()),
            demo_login=False,
        )
    )
    assert (await post_chat(verifier, f"Bearer {signer.token('user_frequent')}")).status == 200
    by_old_key = signer.token("user_frequent", jwt_private_key=old)
    assert (await post_chat(verifier, f"Bearer {by_old_key}")).status == 200
    resp = await verifier.client.post("/oauth/token", data={"grant_type": "client_credentials"})
    assert resp.status == 404
    assert (
        "/oauth/token" not in (await (await verifier.client.get("/openapi.json")).json())["paths"]
    )


async def test_token_without_the_chat_scope_is_403(gw, rasa):
    resp = await post_chat(gw, f"Bearer {gw.token('crm', scopes=('ingest',))}")
    await assert_refused(resp, rasa, status=403, error="insufficient_scope")
    assert 'scope="chat"' in resp.headers["WWW-Authenticate"]
    assert 'gateway_auth_failures_total{reason="scope"} 1.0' in await gw.metrics()


async def test_chat_token_cannot_ingest(gw):
    resp = await gw.client.post(
        "/v1/events/purchase", json={"user_id": "u", "amount": 5}, headers=gw.bearer()
    )
    assert resp.status == 403


async def test_naming_another_sender_is_403_and_never_reaches_rasa(gw, rasa):
    resp = await gw.chat({"message": "show me my orders", "sender": "user_frequent"})
    assert resp.status == 403
    assert "sender" in (await resp.json())["error"]
    assert rasa.calls == []
    resp = await gw.chat({"message": "hello", "sender": "user_bargain"})  # naming oneself is fine
    assert resp.status == 200 and rasa.calls[0]["sender"] == "user_bargain"


# ---- client credentials -----------------------------------------------------------------


async def token_request(gw, data=None, json=None, headers=None):
    resp = await gw.client.post("/oauth/token", data=data, json=json, headers=headers)
    return resp, await resp.json()


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def test_client_credentials_form_token_ingests(gw):
    form = {"grant_type": "client_credentials", "client_id": "crm", "client_secret": CRM_SECRET}
    resp, body = await token_request(gw, data=form)
    assert resp.status == 200, body
    assert resp.headers["Cache-Control"] == "no-store"
    assert body["token_type"] == "Bearer" and body["scope"] == "ingest"
    assert body["expires_in"] == gw.config.token_ttl
    claims = jwt.decode(
        body["access_token"],
        gw.config.jwt_secret,
        algorithms=["HS256"],
        audience=gw.config.jwt_audience,
    )
    assert claims["sub"] == "crm" and claims["iss"] == gw.config.jwt_issuer
    ingest = await gw.client.post(
        "/v1/events/purchase",
        json={"user_id": "user_bargain", "amount": 12.5},
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert ingest.status == 202


async def test_client_credentials_json_and_basic_and_narrowed_scope(gw):
    resp, body = await token_request(
        gw,
        json={
            "grant_type": "client_credentials",
            "client_id": "both",
            "client_secret": BOTH_SECRET,
            "scope": "chat",
        },
    )
    assert resp.status == 200 and body["scope"] == "chat"
    resp, body = await token_request(
        gw, data={"grant_type": "client_credentials"}, headers=basic("both", BOTH_SECRET)
    )
    assert resp.status == 200 and body["scope"] == "chat ingest"


@pytest.mark.parametrize(
    ("form", "headers", "status", "code"),
    [
        ({"client_id": "crm", "client_secret": "wrong"}, None, 401, "invalid_client"),
        ({"client_id": "nobody", "client_secret": CRM_SECRET}, None, 401, "invalid_client"),
        ({"client_id": "crm"}, None, 401, "invalid_client"),
        ({}, basic("crm", "wrong"), 401, "invalid_client"),
        ({}, {"Authorization": "Basic !!!"}, 401, "invalid_client"),
        (
            {"client_id": "crm", "client_secret": CRM_SECRET, "scope": "chat"},
            None,
            400,
            "invalid_scope",
        ),
        (
            {"client_id": "crm", "client_secret": CRM_SECRET, "extra": "1"},
            None,
            400,
            "invalid_request",
        ),
    ],
)
async def test_client_credentials_refusals(gw, form, headers, status, code):
    resp, body = await token_request(
        gw, data={"grant_type": "client_credentials", **form}, headers=headers
    )
    assert resp.status == status, body
    assert body["error"] == code and body["error_description"]
    if status == 401:
        assert resp.headers["WWW-Authenticate"].startswith("Basic ")
        assert 'gateway_auth_failures_total{reason="client"}' in await gw.metrics()


@pytest.mark.parametrize("grant", ["password", "authorization_code", ""])
async def test_wrong_grant_type_is_400(gw, grant):
    form = {"grant_type": grant, "client_id": "crm", "client_secret": CRM_SECRET}
    resp, body = await token_request(gw, data=form)
    assert resp.status == 400 and body["error"] == "unsupported_grant_type"


async def test_token_request_edge_cases(gw):
    resp, _ = await token_request(
        gw,
        data=b"grant_type=client_credentials&grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status == 400
    resp, _ = await token_request(
        gw, data=b"grant_type=client_credentials", headers={"Content-Type": "text/plain"}
    )
    assert resp.status == 415
    resp, body = await token_request(
        gw, data=b"\xff\xfe", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert resp.status == 400 and body["error"] == "invalid_request"
