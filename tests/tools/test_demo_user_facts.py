"""The demo users' profiles hold the facts of their own shop history, never a segment."""

from __future__ import annotations

from cryptography.fernet import Fernet

from core.demo import DEMO_USER_IDS
from personalization.profiles import parse_profile
from privacy.fields import decrypt_fields
from privacy.keyring import Keyring
from segmentation.shop_history import demo_facts
from tools.demo_users import seed


async def test_seeded_profiles_carry_history_facts_and_no_segment(store):
    keyring = Keyring((Fernet.generate_key(),), b"p" * 32)
    assert await seed(store, keyring) == list(DEMO_USER_IDS)
    for sender in DEMO_USER_IDS:
        stored = (await store.get_user(sender)).profile
        assert b"segment" not in stored  # the published model places them
        facts = {k.encode(): v.encode() for k, v in demo_facts(sender).items()}
        assert {k: stored[k] for k in facts} == facts
        assert decrypt_fields(stored, keyring)["email"] == f"{sender}@demo.invalid"
        assert stored[b"email"].startswith(b"enc:")  # contacts encrypted as before
        assert parse_profile(stored).segment is None
    frequent = parse_profile((await store.get_user("user_frequent")).profile)
    assert frequent.favourite_category == "smartphones"


async def test_seeding_again_drops_a_segment_written_before(store):
    keyring = Keyring((Fernet.generate_key(),), b"p" * 32)
    await store.put_profile("user_casual", {"segment": "casual_browser"})
    await seed(store, keyring)
    assert b"segment" not in (await store.get_user("user_casual")).profile
