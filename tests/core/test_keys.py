"""The Redis key schema: every per-user key carries the hash tag of the user's pseudonym."""

from __future__ import annotations

from core.pseudonyms import pseudonym
from core.redis_keys import BUCKETS, UserKeys, bucket_of


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
