"""Where a user's data and the published segments live in Redis: the one module that names
per-user keys (action server, feature worker, publisher, privacy, gateway, Rasa's stores).

Every per-user key carries the hash tag ``{<bucket>}``, bucket = crc32(the id segment data
is keyed by: the user's pseudonym, core/pseudonyms.py) % 16384. On Redis Cluster all of
a user's keys then sit in one slot, on one node, so the profile lookup is one script call
there too; on one server the tag is just part of the name.

    <ns>:profile:{<b>}:<user>        hash    profile (personalization/store.py)
    <ns>:consent:{<b>}:<user>        hash    consent (privacy/consent.py)
    <ns>:live:{<b>}:<user>           hash    live features, online segment (realtime/live.py)
    <ns>:live:{<b>}:<user>:ids       hash    stream entry ids already applied
    <ns>:erasing:{<b>}:<digest>      string  "being erased" marker (privacy/tombstones.py)
    <ns>:seg:active                  string  the active version id
    <ns>:seg:active:{<b>}            string  copy of it per bucket, read by the lookup
    <ns>:seg:<ver>:meta              hash    audit metadata; `segments` maps ids to personas
    <ns>:seg:<ver>:model             string  JSON assigner spec (segmentation/assign.py)
    <ns>:seg:<ver>:b:{<b>}           hash    pseudonym -> segment id
    <ns>:seg:audit                   stream  audit log of versions (never trimmed)
    <ns>:dec:by:<digest>             zset    latest decision ids (experiments/decisions.py)
    <ns>:dec:by:<digest>:seen        hash    stream entry id -> the decision it rewarded
    <ns>:cart:{<b>}:<owner>          hash    a cart (shop/carts.py); owner = <space>:<user>
    <ns>:orders:{<b>}:<owner>        zset    order id -> placed_at (shop/orders.py)
    <ns>:orders:{<b>}:<owner>:records hash   order id -> the order's JSON record
    <ns>:notify:{<b>}:<user>         hash    back-in-stock requests: product id -> asked at

Carts and orders are named after an *owner*, ``<space>:<user>``: the space says who vouched
for the sender (m: a signed-in member, g: a gateway guest, a: anyone else), so a plain REST
client naming a member's sender id gets the "a:" cart, never the member's. The tag is the
user's, whatever the space, so erasure finds every space of a user (shop_keys).

The tag comes before the user id, so braces inside an id cannot move the key to another slot.
The decision index has no tag: it lives with the decisions on the standalone Redis, whose
scripts span keys of many slots.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from core.pseudonyms import subject

BUCKETS = 16384


def bucket_of(user_id: str) -> int:
    return zlib.crc32(user_id.encode("utf-8")) % BUCKETS


def hash_tag(bucket: int) -> str:
    return f"{{{bucket}}}"


def active_key(namespace: str) -> str:
    return f"{namespace}:seg:active"


def bucket_active_key(namespace: str, bucket: int) -> str:
    """The active version as the lookup reads it: a copy in every bucket's slot."""
    return f"{namespace}:seg:active:{hash_tag(bucket)}"


def meta_key(namespace: str, version: str) -> str:
    return f"{namespace}:seg:{version}:meta"


def model_key(namespace: str, version: str) -> str:
    """The version's JSON assigner spec (segmentation/assign.py)."""
    return f"{namespace}:seg:{version}:model"


def audit_log_key(namespace: str) -> str:
    """The append-only log of segment publishes, activations and rollbacks (no user data)."""
    return f"{namespace}:seg:audit"


def bucket_key(namespace: str, version: str, bucket: int) -> str:
    return f"{namespace}:seg:{version}:b:{hash_tag(bucket)}"


def decision_index_key(namespace: str, user_id: str) -> str:
    """The user's latest decisions; a digest names it, not the id (no trace in the name)."""
    digest = hashlib.sha256(f"decisions:{user_id}".encode()).hexdigest()[:32]
    return f"{namespace}:dec:by:{digest}"


def decision_seen_key(namespace: str, user_id: str) -> str:
    """The user's purchases and add-to-carts already attributed: entry id -> decision id."""
    return f"{decision_index_key(namespace, user_id)}:seen"


# Key spaces of carts and orders: member (signed in), guest (gateway guest), anonymous.
OWNER_SPACES = ("m", "g", "a")


def owner_name(space: str, user_id: str) -> str:
    """The owner of a cart or orders: ``<space>:<user>`` (shop/accounts.py picks the space)."""
    if space not in OWNER_SPACES:
        raise ValueError(f"owner space {space!r} must be one of {', '.join(OWNER_SPACES)}")
    return f"{space}:{user_id}"


def owner_user(owner: str) -> str:
    """The user id of an owner name; ValueError when it is not ``<space>:<user>``."""
    space, sep, user = owner.partition(":")
    if not sep or space not in OWNER_SPACES or not user:
        raise ValueError(f"owner {owner[:80]!r} must look like m:<user>, g:<user> or a:<user>")
    return user


class UserKeyNames(NamedTuple):
    """Every per-user name of one user, built once (the feature worker asks per event)."""

    subject: str  # the name published segment versions know the user by
    bucket: int
    profile: str
    consent: str
    live: str
    live_ids: str
    erasing: str


@lru_cache(maxsize=65536)
def _names(namespace: str, pseudonym_key: bytes | None, user_id: str) -> UserKeyNames:
    name = subject(user_id, pseudonym_key)
    bucket = bucket_of(name)
    tag = hash_tag(bucket)
    # The erasure marker names a digest of the id, not the id (it must not itself be a trace).
    digest = hashlib.sha256(f"erasing:{user_id}".encode()).hexdigest()[:32]
    live = f"{namespace}:live:{tag}:{user_id}"
    return UserKeyNames(
        name,
        bucket,
        f"{namespace}:profile:{tag}:{user_id}",
        f"{namespace}:consent:{tag}:{user_id}",
        live,
        f"{live}:ids",
        f"{namespace}:erasing:{tag}:{digest}",
    )


@dataclass(frozen=True)
class UserKeys:
    """Per-user key names in one namespace. Every process that touches a user's keys must
    use the same pseudonym key (None: ids are their own pseudonyms), or tags differ."""

    namespace: str = "pz"
    pseudonym_key: bytes | None = None

    def names(self, user_id: str) -> UserKeyNames:
        return _names(self.namespace, self.pseudonym_key, user_id)

    def subject(self, user_id: str) -> str:
        """The name published segment versions know the user by."""
        return self.names(user_id).subject

    def bucket(self, user_id: str) -> int:
        return self.names(user_id).bucket

    def tag(self, user_id: str) -> str:
        return hash_tag(self.bucket(user_id))

    def profile(self, user_id: str) -> str:
        return self.names(user_id).profile

    def consent(self, user_id: str) -> str:
        return self.names(user_id).consent

    def live(self, user_id: str) -> str:
        return self.names(user_id).live

    def live_ids(self, user_id: str) -> str:
        return self.names(user_id).live_ids

    def erasing(self, user_id: str) -> str:
        return self.names(user_id).erasing

    def cart(self, owner: str) -> str:
        """An owner's cart (hash): ``owner`` is ``<space>:<user>`` (owner_name)."""
        return f"{self.namespace}:cart:{self.tag(owner_user(owner))}:{owner}"

    def orders(self, owner: str) -> str:
        """An owner's order index (zset: order id -> placed_at)."""
        return f"{self.namespace}:orders:{self.tag(owner_user(owner))}:{owner}"

    def order_records(self, owner: str) -> str:
        """An owner's orders (hash: order id -> JSON record), beside the index, same slot."""
        return f"{self.orders(owner)}:records"

    def notify(self, user_id: str) -> str:
        """A user's back-in-stock requests (hash: product id -> unix time asked)."""
        return f"{self.namespace}:notify:{self.tag(user_id)}:{user_id}"

    def shop_keys(self, user_id: str) -> list[tuple[str, str]]:
        """(key, what it is) for every shop key of the user: carts and orders in every
        owner space, and the back-in-stock requests (not the per-product sets)."""
        out = []
        for space in OWNER_SPACES:
            owner = owner_name(space, user_id)
            out += [(self.cart(owner), "cart"), (self.orders(owner), "orders")]
            out.append((self.order_records(owner), "orders"))
        return [*out, (self.notify(user_id), "back_in_stock")]

    def active(self, user_id: str) -> str:
        return bucket_active_key(self.namespace, self.bucket(user_id))

    def segment(self, user_id: str, version: str) -> str:
        """The bucket hash that holds the user's segment in `version`."""
        return bucket_key(self.namespace, version, self.bucket(user_id))

    def lookup(self, user_id: str, version: str | None) -> list[str]:
        """LOOKUP_SCRIPT's keys. Without a known version the bucket-hash slot gets the
        active-version key again (any key of the slot will do: it is not read then)."""
        names = self.names(user_id)
        active = bucket_active_key(self.namespace, names.bucket)
        return [
            active,
            bucket_key(self.namespace, version, names.bucket) if version else active,
            names.profile,
            names.live,
            names.consent,
        ]


# One round trip, all keys declared, all in the user's slot: the bucket's copy of the active
# version, the user's segment in the version the caller expects (read only when that version
# is still active; otherwise the caller learns the new one and asks again), the profile hash,
# the online segment the feature worker assigned (persona, segment, version) with the
# purchases it has seen (last time, count, total, category), and the consent status
# (privacy/consent.py). ARGV: expected version, published name.
LOOKUP_SCRIPT = """
local version = redis.call('GET', KEYS[1])
local segment = false
if version and version == ARGV[1] then
  segment = redis.call('HGET', KEYS[2], ARGV[2])
end
return {version, segment, redis.call('HGETALL', KEYS[3]),
        redis.call('HMGET', KEYS[4], 'persona', 'segment', 'last_purchase', 'purchases',
                   'monetary', 'last_category', 'segment_version'),
        redis.call('HGET', KEYS[5], 'status')}
"""
