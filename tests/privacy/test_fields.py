"""Encrypted PII profile fields, key rotation and re-encryption in a real Redis."""

from __future__ import annotations

import logging
import uuid

import pytest
import redis
import redis.asyncio as aioredis
from cryptography.fernet import Fernet, InvalidToken

from privacy import fields as privacy_fields
from privacy.fields import (
    PII_FIELDS,
    PREFIX,
    decrypt_fields,
    encrypt_fields,
    reencrypt_profiles,
    rotate_fields,
)
from privacy.keyring import Keyring
from privacy.keys import main

OLD, NEW, OTHER = (Fernet.generate_key() for _ in range(3))
PSEUDO = b"k" * 32
OLD_RING = Keyring((OLD,), PSEUDO)
ROTATED = Keyring((NEW, OLD), PSEUDO)  # after `rotate`: NEW encrypts, OLD still decrypts

PROFILE = {
    "name": "Ada Lovelace",
    "email": "ada@example.com",
    "phone": "+44 20 7946 0958",
    "address": "12 St James's Square, London — 3ème étage",
    "segment": "tech_enthusiast",
    "favourite_category": "laptops",
    "updated_at": "1700000000",
}
NON_PII = {k: v for k, v in PROFILE.items() if k not in PII_FIELDS}


def token_of(value: str | bytes) -> str:
    text = value.decode() if isinstance(value, bytes) else value
    assert text.startswith(PREFIX), text
    return text[len(PREFIX) :]


def encrypted_with(value: str | bytes, key: bytes) -> bool:
    try:
        Fernet(key).decrypt(token_of(value))
        return True
    except InvalidToken:
        return False


def as_redis_returns(mapping: dict) -> dict:
    return {k.encode(): v.encode() for k, v in mapping.items()}


@pytest.mark.parametrize("shape", [dict, as_redis_returns], ids=["str", "bytes"])
def test_only_pii_is_encrypted_and_comes_back(shape):
    stored = encrypt_fields(PROFILE, OLD_RING)
    assert set(stored) == set(PROFILE)
    for name in PII_FIELDS:
        assert encrypted_with(stored[name], OLD)
        assert PROFILE[name] not in stored[name]
    assert {k: stored[k] for k in NON_PII} == NON_PII
    assert stored["name"] != encrypt_fields(PROFILE, OLD_RING)["name"]  # fresh IV every time

    back = decrypt_fields(shape(stored), OLD_RING)
    assert set(back) == set(PROFILE)  # text keys whatever came in
    assert {k: back[k] for k in PII_FIELDS} == {k: PROFILE[k] for k in PII_FIELDS}
    as_given = NON_PII if shape is dict else {k: v.encode() for k, v in NON_PII.items()}
    assert {k: back[k] for k in NON_PII} == as_given  # non-PII values are not touched


@pytest.mark.parametrize(
    "value, stored_plain",
    [
        ("", ""),
        (b"raw bytes", "raw bytes"),
        (12345, "12345"),
        ("enc:v1:looks like a token", "enc:v1:looks like a token"),
    ],
)
def test_every_pii_value_round_trips(value, stored_plain):
    stored = encrypt_fields({"phone": value}, OLD_RING)
    assert stored["phone"].startswith(PREFIX) and stored["phone"] != value
    assert decrypt_fields(stored, OLD_RING) == {"phone": stored_plain}


def test_none_and_legacy_plaintext_pass_through():
    assert encrypt_fields({"email": None}, OLD_RING) == {"email": None}
    legacy = {b"email": b"old@example.com", b"segment": b"default"}
    assert decrypt_fields(legacy, OLD_RING) == {"email": "old@example.com", "segment": b"default"}


GOOD = PREFIX + Fernet(OLD).encrypt(b"Ada").decode()
CORRUPT = [
    pytest.param(GOOD[:-6], id="truncated"),
    pytest.param(GOOD[:40] + ("A" if GOOD[40] != "A" else "B") + GOOD[41:], id="bit-flip"),
    pytest.param(PREFIX + Fernet(OTHER).encrypt(b"Ada").decode(), id="unknown-key"),
    pytest.param(PREFIX + "not base64 at all!", id="garbage"),
    pytest.param(PREFIX, id="empty-token"),
    pytest.param(PREFIX + Fernet(OLD).encrypt(b"\xff\xfe").decode(), id="not-utf8-inside"),
    pytest.param(b"\xff\xfe\x00", id="not-utf8-stored"),
]


@pytest.mark.parametrize("bad", CORRUPT)
def test_corrupted_ciphertext_becomes_none_and_is_logged(bad, caplog):
    raw = {b"name": bad, b"email": GOOD.encode(), b"segment": b"casual_browser"}
    with caplog.at_level(logging.WARNING, logger="privacy.fields"):
        back = decrypt_fields(raw, OLD_RING)
    assert back == {"name": None, "email": "Ada", "segment": b"casual_browser"}
    assert "name" in caplog.text and "email" not in caplog.text
    assert "Ada" not in caplog.text


def test_rotation_keeps_old_data_readable_and_new_data_uses_the_new_key():
    old = encrypt_fields(PROFILE, OLD_RING)
    assert decrypt_fields(old, ROTATED) == PROFILE
    new = encrypt_fields(PROFILE, ROTATED)
    assert all(encrypted_with(new[f], NEW) and not encrypted_with(new[f], OLD) for f in PII_FIELDS)
    assert decrypt_fields(new, OLD_RING)["name"] is None  # the old keyring cannot read it

    rotated = rotate_fields(as_redis_returns(old), ROTATED)
    assert set(rotated) == set(PII_FIELDS)  # only PII, only what changed
    assert all(encrypted_with(rotated[f], NEW) for f in PII_FIELDS)
    assert decrypt_fields({**old, **rotated}, Keyring((NEW,), PSEUDO)) == PROFILE

    assert rotate_fields(new, ROTATED) is None  # already current: nothing to rewrite
    mixed = {"name": old["name"], "email": new["email"], "phone": "plain", "segment": "x"}
    assert set(rotate_fields(mixed, ROTATED)) == {"name"}
    assert rotate_fields({"name": GOOD[:-6], "address": "plain"}, ROTATED) is None


@pytest.fixture
async def client(redis_url):
    """A client and a namespace of its own; every key under it is removed afterwards."""
    client = aioredis.Redis.from_url(redis_url, socket_timeout=2)
    namespace = f"t{uuid.uuid4().hex[:10]}"
    yield client, namespace
    keys = [k async for k in client.scan_iter(match=f"{namespace}*")]
    if keys:
        await client.delete(*keys)
    await client.close()
    await client.connection_pool.disconnect()


async def seed(client, ns: str) -> dict[str, dict]:
    """Old-key, current-key, plaintext and corrupted profiles, plus keys that are not profiles."""
    profiles = {
        f"{ns}:profile:old": encrypt_fields(PROFILE, OLD_RING),
        f"{ns}:profile:current": encrypt_fields(PROFILE, ROTATED),
        f"{ns}:profile:legacy": {"phone": "plain", "name": GOOD[:-6], "segment": "default"},
        f"{ns}:profile:partial": {"email": encrypt_fields(PROFILE, OLD_RING)["email"]},
        f"{ns}other:profile:x": encrypt_fields(PROFILE, OLD_RING),  # another namespace
    }
    for key, mapping in profiles.items():
        await client.hset(key, mapping=mapping)
    await client.set(f"{ns}:profile:not-a-hash", GOOD)
    await client.set(f"{ns}:seg:v1", GOOD)
    return profiles


async def test_reencrypt_profiles_moves_old_tokens_to_the_new_key(client, monkeypatch):
    client, ns = client

    async def no_keys(*args, **kwargs):
        raise AssertionError("KEYS blocks Redis; use SCAN")

    monkeypatch.setattr(client, "keys", no_keys)
    profiles = await seed(client, ns)

    assert await reencrypt_profiles(client, ns, ROTATED) == 2
    old = await client.hgetall(f"{ns}:profile:old")
    for name in PII_FIELDS:
        assert encrypted_with(old[name.encode()], NEW)
    assert decrypt_fields(old, Keyring((NEW,), PSEUDO)) == {
        **{k: PROFILE[k] for k in PII_FIELDS},
        **{k: v.encode() for k, v in NON_PII.items()},
    }
    partial = await client.hgetall(f"{ns}:profile:partial")
    assert list(partial) == [b"email"] and encrypted_with(partial[b"email"], NEW)

    unchanged = {f"{ns}:profile:current", f"{ns}:profile:legacy", f"{ns}other:profile:x"}
    for key in unchanged:
        assert await client.hgetall(key) == as_redis_returns(profiles[key])
    assert await client.get(f"{ns}:profile:not-a-hash") == GOOD.encode()
    assert await client.get(f"{ns}:seg:v1") == GOOD.encode()

    assert await reencrypt_profiles(client, ns, ROTATED) == 0  # idempotent


async def test_reencrypt_never_resurrects_a_profile_erased_meanwhile(
    client, redis_url, monkeypatch
):
    client, ns = client
    await client.hset(f"{ns}:profile:gone", mapping=encrypt_fields(PROFILE, OLD_RING))
    real_rotate = privacy_fields.rotate_fields
    sync = redis.Redis.from_url(redis_url)

    def erase_then_rotate(mapping, keyring):
        sync.delete(f"{ns}:profile:gone")  # a GDPR erasure between read and write
        return real_rotate(mapping, keyring)

    monkeypatch.setattr(privacy_fields, "rotate_fields", erase_then_rotate)
    try:
        assert await reencrypt_profiles(client, ns, ROTATED) == 0
    finally:
        sync.close()
    assert not await client.exists(f"{ns}:profile:gone")


def test_reencrypt_cli(redis_url, monkeypatch, capsys, tmp_path):
    ns = f"t{uuid.uuid4().hex[:10]}"
    sync = redis.Redis.from_url(redis_url)
    try:
        sync.hset(f"{ns}:profile:u1", mapping=encrypt_fields(PROFILE, OLD_RING))
        monkeypatch.setenv("PZ_ENCRYPTION_KEYS", f"{NEW.decode()},{OLD.decode()}")
        monkeypatch.setenv("PZ_PSEUDONYM_KEY", PSEUDO.decode())
        args = ["--secrets-dir", str(tmp_path), "reencrypt", "--redis-url", redis_url]
        assert main([*args, "--namespace", ns]) == 0
        assert f"re-encrypted 1 profile in namespace '{ns}' with the newest of 2 keys" in (
            capsys.readouterr().out
        )
        assert encrypted_with(sync.hget(f"{ns}:profile:u1", "email"), NEW)
    finally:
        leftovers = list(sync.scan_iter(match=f"{ns}:*"))
        if leftovers:
            sync.delete(*leftovers)
        sync.close()
    assert main(["reencrypt", "--redis-url", "redis://:hunter2@127.0.0.1:1/0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: Redis at redis://:***@127.0.0.1:1/0 failed")
    assert "hunter2" not in err and err.count("\n") == 1
