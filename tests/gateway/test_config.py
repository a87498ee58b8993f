"""Configuration from the environment, its one-line errors, and first-run secrets."""

from __future__ import annotations

import json
import stat

import pytest
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from gateway.bootstrap import ensure_dev_secrets
from gateway.config import ConfigError, GatewayConfig, RateLimit, hash_secret

SECRET = "s" * 40


def test_defaults_with_a_secret():
    config = GatewayConfig.from_env({"PZ_JWT_SECRET": SECRET})
    assert config.jwt_algorithm == "HS256" and config.jwt_secret == SECRET.encode()
    assert config.rasa_url == "http://127.0.0.1:5005" and config.rasa_timeout == 4.0
    assert config.max_message_chars == 2000 and config.max_body_bytes == 16 * 1024
    assert config.user_rate == RateLimit(30, 10) and config.address_rate == RateLimit(120, 10)
    assert config.demo_login is False and config.stream == "pz:events"


def test_every_setting_is_read(tmp_path):
    clients = tmp_path / "clients.json"
    clients.write_text(
        json.dumps({"crm": {"secret_sha256": hash_secret("x"), "scopes": ["ingest"]}})
    )
    config = GatewayConfig.from_env(
        {
            "PZ_JWT_SECRET": SECRET,
            "PZ_JWT_ISSUER": "iss",
            "PZ_JWT_AUDIENCE": "aud",
            "PZ_JWT_TTL_S": "60",
            "PZ_JWT_LEEWAY_S": "5",
            "PZ_GATEWAY_CLIENTS_FILE": str(clients),
            "PZ_REDIS_URL": "redis://r:1/2",
            "PZ_GATEWAY_REDIS_TIMEOUT_MS": "500",
            "PZ_NAMESPACE": "ns",
            "PZ_RASA_URL": "http://rasa:5005/",
            "PZ_GATEWAY_RASA_TIMEOUT_S": "2.5",
            # the deadlines inside it must nest (core/settings.py checks the table)
            "PZ_TURN_DEADLINE_S": "2",
            "PZ_ACTION_TIMEOUT_S": "1.5",
            "PZ_ACTION_DEADLINE_MS": "1200",
            "PZ_GATEWAY_MAX_MESSAGE_CHARS": "100",
            "PZ_GATEWAY_MAX_BODY_BYTES": "2048",
            "PZ_GATEWAY_RATE_USER": "5/2",
            "PZ_GATEWAY_RATE_ADDRESS": "50/10s",
            "PZ_GATEWAY_RATE_INGEST": "7/1",
            "PZ_GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8, ::1",
            "PZ_GATEWAY_DEMO_LOGIN": "yes",
        }
    )
    assert (config.jwt_issuer, config.jwt_audience, config.token_ttl) == ("iss", "aud", 60)
    assert config.jwt_leeway == 5 and config.redis_timeout == 0.5
    assert config.clients["crm"].scopes == {"ingest"}
    assert config.redis_url == "redis://r:1/2" and config.stream == "ns:events"
    assert config.rasa_url == "http://rasa:5005" and config.rasa_timeout == 2.5
    assert (config.max_message_chars, config.max_body_bytes) == (100, 2048)
    assert config.user_rate == RateLimit(5, 2) and config.address_rate == RateLimit(50, 10)
    assert config.ingest_rate == RateLimit(7, 1)
    assert [str(n) for n in config.trusted_proxies] == ["10.0.0.0/8", "::1/128"]
    assert config.demo_login is True


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "PZ_JWT_SECRET"),
        ({"PZ_JWT_SECRET": "short"}, "PZ_JWT_SECRET"),
        ({"PZ_JWT_SECRET": SECRET, "PZ_JWT_SECRET_FILE": "/x"}, "PZ_JWT_SECRET_FILE"),
        ({"PZ_JWT_SECRET_FILE": "/nonexistent/secret"}, "PZ_JWT_SECRET_FILE"),
        ({"PZ_JWT_SECRET": SECRET, "PZ_JWT_ALGORITHM": "none"}, "PZ_JWT_ALGORITHM"),
        ({"PZ_JWT_SECRET": SECRET, "PZ_GATEWAY_RATE_USER": "lots"}, "PZ_GATEWAY_RATE_USER"),
        ({"PZ_JWT_SECRET": SECRET, "PZ_GATEWAY_RATE_USER": "0/10"}, "PZ_GATEWAY_RATE_USER"),
        ({"PZ_JWT_SECRET": SECRET, "PZ_GATEWAY_RASA_TIMEOUT_S": "-1"}, "PZ_GATEWAY_RASA_TIMEOUT_S"),
        ({"PZ_JWT_SECRET": SECRET, "PZ_GATEWAY_RASA_TIMEOUT_S": "2"}, "PZ_GATEWAY_RASA_TIMEOUT_S"),
        ({"PZ_JWT_SECRET": SECRET, "PZ_REDIS_CLUSTER": "1"}, "PZ_SHARED_REDIS_URL"),
        ({"PZ_JWT_SECRET": SECRET, "PZ_GATEWAY_MAX_BODY_BYTES": "1k"}, "PZ_GATEWAY_MAX_BODY_BYTES"),
        ({"PZ_JWT_SECRET": SECRET, "PZ_GATEWAY_TRUSTED_PROXIES": "10.0.0/x"}, "PZ_GATEWAY_TRUSTED"),
        ({"PZ_JWT_SECRET": SECRET, "PZ_GATEWAY_DEMO_LOGIN": "maybe"}, "PZ_GATEWAY_DEMO_LOGIN"),
        ({"PZ_JWT_SECRET": SECRET, "PZ_GATEWAY_CLIENTS_FILE": "/nope.json"}, "PZ_GATEWAY_CLIENTS"),
        ({"PZ_JWT_PRIVATE_KEY_FILE": "/nope.pem"}, "PZ_JWT_PRIVATE_KEY_FILE"),
    ],
)
def test_errors_are_one_line_and_name_the_variable(env, named):
    with pytest.raises(ConfigError) as info:
        GatewayConfig.from_env(env)
    message = str(info.value)
    assert named in message and "\n" not in message


@pytest.mark.parametrize(
    ("clients", "hint"),
    [
        ([], "JSON object"),
        ({"bad id!": {}}, "client id"),
        ({"crm": {"secret_sha256": "abc", "scopes": ["ingest"]}}, "secret_sha256"),
        ({"crm": {"secret_sha256": "a" * 64, "scopes": ["admin"]}}, "scopes"),
        ({"crm": {"secret_sha256": "a" * 64, "scopes": []}}, "scopes"),
    ],
)
def test_clients_file_errors(tmp_path, clients, hint):
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(clients))
    with pytest.raises(ConfigError, match=hint) as info:
        GatewayConfig.from_env({"PZ_JWT_SECRET": SECRET, "PZ_GATEWAY_CLIENTS_FILE": str(path)})
    assert "PZ_GATEWAY_CLIENTS_FILE" in str(info.value)


def test_rs256_key_files(tmp_path, rsa_keys):
    private, other = rsa_keys
    key_file = tmp_path / "jwt.pem"
    key_file.write_bytes(private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    pubs = []
    for i, key in enumerate((private, other)):
        pub = tmp_path / f"pub{i}.pem"
        pub.write_bytes(
            key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        )
        pubs.append(str(pub))
    signer = GatewayConfig.from_env({"PZ_JWT_PRIVATE_KEY_FILE": str(key_file)})
    assert signer.jwt_algorithm == "RS256" and signer.can_sign
    assert len(signer.jwt_public_keys) == 1  # derived from the private key
    verifier = GatewayConfig.from_env({"PZ_JWT_PUBLIC_KEY_FILES": ",".join(pubs)})
    assert not verifier.can_sign and len(verifier.jwt_public_keys) == 2
    with pytest.raises(ConfigError, match="PZ_GATEWAY_DEMO_LOGIN"):
        GatewayConfig.from_env({"PZ_JWT_PUBLIC_KEY_FILES": pubs[0], "PZ_GATEWAY_DEMO_LOGIN": "1"})
    with pytest.raises(ConfigError, match="PZ_JWT_PRIVATE_KEY_FILE"):
        GatewayConfig.from_env({"PZ_JWT_PRIVATE_KEY_FILE": pubs[0]})  # a public key
    with pytest.raises(ConfigError, match=r"not both|unset"):
        GatewayConfig.from_env({"PZ_JWT_PRIVATE_KEY_FILE": str(key_file), "PZ_JWT_SECRET": SECRET})


def test_first_run_creates_private_secrets_once(tmp_path):
    env: dict[str, str] = {}
    notes = ensure_dev_secrets(env, tmp_path / "secrets")
    secret_file = tmp_path / "secrets" / "jwt_secret"
    clients_file = tmp_path / "secrets" / "clients.json"
    client_secret = (tmp_path / "secrets" / "crm-demo.secret").read_text().strip()
    for path in (secret_file, clients_file, tmp_path / "secrets" / "crm-demo.secret"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert env == {
        "PZ_JWT_SECRET_FILE": str(secret_file),
        "PZ_GATEWAY_CLIENTS_FILE": str(clients_file),
    }
    assert any(str(secret_file) in note for note in notes)
    assert not any(client_secret in note for note in notes)  # secrets are never printed

    config = GatewayConfig.from_env(env)
    assert config.jwt_secret == secret_file.read_text().strip().encode()
    assert config.clients["crm-demo"].secret_sha256 == hash_secret(client_secret)

    again: dict[str, str] = {}
    ensure_dev_secrets(again, tmp_path / "secrets")
    assert GatewayConfig.from_env(again).jwt_secret == config.jwt_secret  # reused, not rotated


def test_configured_keys_are_left_alone(tmp_path):
    env = {"PZ_JWT_SECRET": SECRET}
    assert ensure_dev_secrets(env, tmp_path / "secrets") == []
    assert env == {"PZ_JWT_SECRET": SECRET} and not (tmp_path / "secrets").exists()


def test_the_signing_secret_never_reaches_a_log_line():
    config = GatewayConfig.from_env({"PZ_JWT_SECRET": SECRET})
    assert config.jwt_secret == SECRET.encode() and SECRET not in repr(config)
