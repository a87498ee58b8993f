"""The profile store against a real Redis: key schema, deadlines, recovery, demo users."""

from __future__ import annotations

import pytest

from actions.demo_users import DEMO_USERS, seed
from actions.personas import PERSONAS
from actions.profiles import parse_profile
from actions.segment_keys import BUCKETS, UserKeys, bucket_of
from actions.store import ProfileStore, StoreUnavailable
from privacy.pseudonyms import pseudonym


async def profile_of(store: ProfileStore, sender_id: str):
    return (await store.get_user(sender_id)).profile


def test_key_schema():
    tag = f"{{{bucket_of('user_1')}}}"
    assert UserKeys().profile("user_1") == f"pz:profile:{tag}:user_1"
    assert UserKeys("staging").profile("user_1") == f"staging:profile:{tag}:user_1"
    # With a pseudonym key the tag is the bucket of the pseudonym (what publishing knows).
    keys = UserKeys("pz", b"k" * 32)
    assert keys.tag("user_1") == f"{{{bucket_of(pseudonym('user_1', b'k' * 32))}}}"
    assert 0 <= keys.bucket("user_1") < BUCKETS


def test_every_key_of_a_user_carries_the_same_hash_tag_before_the_id():
    keys = UserKeys("pz", b"k" * 32)
    user = "a{b}c:d"  # braces in an id must not choose the slot
    tag = keys.tag(user)
    names = [
        keys.profile(user),
        keys.consent(user),
        keys.live(user),
        keys.live_ids(user),
        keys.erasing(user),
        keys.active(user),
        keys.segment(user, "v1"),
        *keys.lookup(user, "v1"),
    ]
    assert all(name.index("{") == name.index(tag) for name in names), names
    assert user not in keys.erasing(user)  # the marker names a digest, not the id


async def test_put_replaces_the_whole_profile(store):
    await store.put_profile("u", {"segment": "default", "favourite_category": "laptops"})
    await store.put_profile("u", {"segment": "bargain_hunter"})
    assert await profile_of(store, "u") == {b"segment": b"bargain_hunter"}


async def test_unknown_and_unreasonable_sender_ids_have_no_profile(store):
    assert await profile_of(store, "nobody") is None
    assert await profile_of(store, "") is None
    assert await profile_of(store, "x" * 1000) is None


async def test_down_redis_raises_store_unavailable(private_redis):
    store = ProfileStore.from_url(private_redis.url, timeout=0.2)
    private_redis.stop()
    with pytest.raises(StoreUnavailable):
        await profile_of(store, "u")
    assert await store.ping() is False
    await store.close()


async def test_first_call_after_a_redis_restart_succeeds(private_redis):
    store = ProfileStore.from_url(private_redis.url, timeout=0.5)
    await store.put_profile("u", {"segment": "tech_enthusiast"})
    private_redis.stop()
    private_redis.start()  # same port, same data dir: append-only file brings the data back

    assert await profile_of(store, "u") == {b"segment": b"tech_enthusiast"}
    await store.close()


async def test_seed_writes_one_valid_demo_user_per_persona(store):
    from cryptography.fernet import Fernet

    from privacy.fields import decrypt_fields
    from privacy.keys import Keyring

    keyring = Keyring((Fernet.generate_key(),), b"p" * 32)
    users = await seed(store, keyring)

    segments = set()
    for sender in users:
        stored = await profile_of(store, sender)
        profile = parse_profile(stored)
        segments.add(profile.segment)
        assert stored[b"email"].startswith(b"enc:v1:")  # contact details encrypted at rest
        assert decrypt_fields(stored, keyring)["email"] == f"{sender}@demo.invalid"
        assert (await store.get_user(sender)).consent == "granted"
    assert segments == set(PERSONAS) - {"default"}
    assert len(users) == len(DEMO_USERS)


@pytest.mark.parametrize("value, message", [("abc", "whole number"), ("0", "greater than zero")])
def test_bad_timeout_setting_is_a_clear_error(monkeypatch, value, message):
    monkeypatch.setenv("PZ_REDIS_TIMEOUT_MS", value)
    with pytest.raises(ValueError, match=message):
        ProfileStore.from_env()
