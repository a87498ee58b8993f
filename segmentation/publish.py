"""Versioned, atomic publishing of segments to Redis.

Key schema (namespace `pz`; names from core/redis_keys.py):

    pz:seg:active               string  the active version id
    pz:seg:active:{<bucket>}    string  the same, once per bucket (what the lookup reads)
    pz:seg:versions             zset    complete versions, scored by creation time
    pz:seg:pending              set     versions being written (cleaned up if a publish died)
    pz:seg:<ver>:meta           hash    audit metadata (see `publish`), with the model card
    pz:seg:audit                stream  append-only audit log (segmentation/audit_log.py):
                                        every publish, activation and rollback; never
                                        trimmed, retention does not touch it
    pz:seg:<ver>:model          string  JSON assigner spec (segmentation/assign.py)
    pz:seg:<ver>:b:{<bucket>}   hash    pseudonym -> segment id, bucket = crc32(pseudonym) % 16384

A version is written completely under its own keys, then one MULTI/EXEC makes
it active (the global pointer and its 16,384 per-bucket copies): readers see
the old or the new version, never a mix. On a Redis Cluster there is no MULTI
across nodes: activation is one pipeline split per node, atomic on each node,
so for a moment users on one node may already see the new version while users
on another still see the old one (each user sees one version, never a mix of
two). Small bucket hashes keep Redis memory per user low (listpack encoding)
and let one pipelined HSET write a hundred users; the `{<bucket>}` hash tag
puts a bucket beside the profiles of its users (one slot, one node).

Every activation appends to the audit log in the same MULTI/EXEC (who, when, the version,
its data fingerprint and its card), so the log outlives the versions retention deletes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import redis

from core.redis_clients import is_cluster
from core.redis_keys import (
    BUCKETS,
    active_key,
    audit_log_key,
    bucket_active_key,
    bucket_key,
    bucket_of,
    meta_key,
    model_key,
)
from segmentation.audit_log import ACTIVATE, PUBLISH, ROLLBACK, append, entry, who
from segmentation.errors import PublishError

CHUNK_BUCKETS = 256  # buckets per pipeline round trip


@dataclass(frozen=True)
class Keys:
    namespace: str = "pz"

    @property
    def active(self) -> str:
        return active_key(self.namespace)

    def bucket_active(self, bucket: int) -> str:
        return bucket_active_key(self.namespace, bucket)

    @property
    def versions(self) -> str:
        return f"{self.namespace}:seg:versions"

    @property
    def audit(self) -> str:
        return audit_log_key(self.namespace)

    @property
    def pending(self) -> str:
        return f"{self.namespace}:seg:pending"

    def meta(self, version: str) -> str:
        return meta_key(self.namespace, version)

    def model(self, version: str) -> str:
        return model_key(self.namespace, version)

    def bucket(self, version: str, bucket: int) -> str:
        return bucket_key(self.namespace, version, bucket)

    def pattern(self, version: str) -> str:
        return f"{self.namespace}:seg:{version}:*"


DEFAULT_KEYS = Keys()


def new_version_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now or time.time()))
    return f"v{stamp}-{np.random.default_rng().integers(16**4):04x}"


def group_by_bucket(user_ids: Iterable[str], segments: Iterable[str]) -> dict[int, dict[str, str]]:
    buckets: dict[int, dict[str, str]] = {}
    for user, seg in zip(user_ids, segments, strict=True):
        buckets.setdefault(bucket_of(user), {})[user] = seg
    return buckets


def activate(client: redis.Redis, keys: Keys, version: str, also=None) -> None:
    """Point the global and every per-bucket active pointer at `version`, with `also(pipe)`'s
    commands: one MULTI on a server, one pipeline per node on a cluster."""
    with client.pipeline(transaction=not is_cluster(client)) as pipe:
        pipe.set(keys.active, version)
        for bucket in range(BUCKETS):
            pipe.set(keys.bucket_active(bucket), version)
        if also is not None:
            also(pipe)
        pipe.execute()


def delete_version(client: redis.Redis, keys: Keys, version: str, batch: int = 500) -> int:
    """Remove a version's keys in small UNLINK batches (freed off the main thread)."""
    removed = 0
    pending: list[bytes] = []
    for key in client.scan_iter(match=keys.pattern(version), count=1000):
        pending.append(key)
        if len(pending) >= batch:
            removed += client.unlink(*pending)
            pending.clear()
    if pending:
        removed += client.unlink(*pending)
    return removed


def cleanup_stale(client: redis.Redis, keys: Keys) -> list[str]:
    """Delete versions a crashed publish left behind (pending, never activated)."""
    active = _text(client.get(keys.active))
    cleaned = []
    for raw in client.smembers(keys.pending):
        version = _text(raw)
        if version != active and client.zscore(keys.versions, version) is None:
            delete_version(client, keys, version)
            cleaned.append(version)
        client.srem(keys.pending, raw)
    return cleaned


AUDIT_FIELDS = (
    "algorithm",
    "params",
    "scores",
    "features",
    "data_fingerprint",
    "code_version",
    "n_users",
)
SEGMENT_AUDIT_FIELDS = ("id", "persona", "size", "share", "profile", "top_features", "traits")


def audit_record(meta: dict, model_dir: str | Path, card: str | None = None) -> dict:
    """What a version's meta hash records about its model (model.json's audit fields, and
    its model card); a model trained before traits existed is published without them (the
    action server then uses each segment's persona preset)."""
    audit = {k: meta[k] for k in AUDIT_FIELDS}
    audit["segments"] = [
        {k: s[k] for k in SEGMENT_AUDIT_FIELDS if k in s} for s in meta["segments"]
    ]
    if "trait_mapping" in meta:
        audit["trait_mapping"] = meta["trait_mapping"]
    audit["model_dir"] = str(Path(model_dir).resolve())
    if card is not None:
        audit["card"] = card
    return audit


def publish(
    client: redis.Redis,
    user_ids: list[str],
    segments: list[str],
    metadata: dict,
    assigner_spec: dict,
    keys: Keys = DEFAULT_KEYS,
    keep: int = 5,
    version: str | None = None,
    on_chunk: Callable[[int], None] | None = None,
    by: str | None = None,
) -> dict:
    """Write a new version and make it active atomically; returns a summary.

    `on_chunk(i)` is called after each pipelined chunk (progress, and fault injection in tests).
    The audit log gets a publish and an activate entry, by `by` (default the OS user), in
    the activating transaction; the publish entry carries metadata's `card`.
    """
    if len(user_ids) != len(segments):
        raise PublishError("user ids and segments differ in length")
    if len(set(user_ids)) != len(user_ids):
        raise PublishError("duplicate user ids in the assignments")
    if version is not None and any(ch in version for ch in "{}:*?[]"):
        raise PublishError(f"version {version!r}: no braces, colons or glob characters")
    try:
        cleaned = cleanup_stale(client, keys)
        previous = _text(client.get(keys.active))
        version = version or new_version_id()
        created = time.time()
        client.sadd(keys.pending, version)
        meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
        meta.update(
            created_at=f"{created:.3f}",
            rows=str(len(user_ids)),
            status="writing",
            buckets=str(BUCKETS),
        )
        client.hset(keys.meta(version), mapping=meta)
        client.set(keys.model(version), json.dumps(assigner_spec))
        written = _write_buckets(
            client, keys, version, group_by_bucket(user_ids, segments), on_chunk
        )
        if written != len(user_ids):
            raise PublishError(f"wrote {written} of {len(user_ids)} users; not activating")

        published = entry(
            PUBLISH,
            version,
            who(by),
            data_fingerprint=metadata.get("data_fingerprint"),
            users=len(user_ids),
            card=metadata.get("card"),
        )
        activated = entry(
            ACTIVATE,
            version,
            published["by"],
            previous=previous,
            data_fingerprint=metadata.get("data_fingerprint"),
        )

        def complete(pipe) -> None:
            pipe.zadd(keys.versions, {version: created})
            pipe.srem(keys.pending, version)
            pipe.hset(keys.meta(version), "status", "complete")
            append(pipe, keys.audit, published)
            append(pipe, keys.audit, activated)

        activate(client, keys, version, complete)
        retired = enforce_retention(client, keys, keep)
    except redis.RedisError as exc:
        raise PublishError(
            f"Redis failed during publish ({exc}); the previous version is "
            "still active and the partial one is removed on the next publish"
        ) from exc
    return {
        "version": version,
        "users": len(user_ids),
        "cleaned_stale": cleaned,
        "retired": retired,
    }


def _write_buckets(
    client, keys: Keys, version: str, buckets: dict[int, dict[str, str]], on_chunk
) -> int:
    written = 0
    items = list(buckets.items())
    for i in range(0, len(items), CHUNK_BUCKETS):
        with client.pipeline(transaction=False) as pipe:
            for bucket, mapping in items[i : i + CHUNK_BUCKETS]:
                pipe.hset(keys.bucket(version, bucket), mapping=mapping)
            written += sum(pipe.execute())
        if on_chunk:
            on_chunk(i // CHUNK_BUCKETS)
    return written


def enforce_retention(client: redis.Redis, keys: Keys, keep: int) -> list[str]:
    """Keep the newest `keep` versions (never the active one); delete the rest incrementally."""
    if keep < 1:
        raise PublishError("keep must be at least 1")
    active = _text(client.get(keys.active))
    versions = [_text(v) for v in client.zrevrange(keys.versions, 0, -1)]
    retired = [v for v in versions[keep:] if v != active]
    for version in retired:
        client.zrem(keys.versions, version)
        delete_version(client, keys, version)
    return retired


def list_versions(client: redis.Redis, keys: Keys = DEFAULT_KEYS) -> list[dict]:
    active = _text(client.get(keys.active))
    out = []
    for raw, score in client.zrevrange(keys.versions, 0, -1, withscores=True):
        version = _text(raw)
        meta = {_text(k): _text(v) for k, v in client.hgetall(keys.meta(version)).items()}
        out.append({"version": version, "active": version == active, "created_at": score, **meta})
    return out


def rollback(
    client: redis.Redis, to: str | None = None, keys: Keys = DEFAULT_KEYS, by: str | None = None
) -> str:
    """Make an earlier complete version active again (default: the one before the active),
    logged with its card and data fingerprint, by `by` (default the OS user)."""
    versions = [_text(v) for v in client.zrevrange(keys.versions, 0, -1)]
    active = _text(client.get(keys.active))
    if to is None:
        if active not in versions or versions.index(active) + 1 >= len(versions):
            raise PublishError("no earlier version to roll back to; see 'segment versions'")
        to = versions[versions.index(active) + 1]
    elif to not in versions:
        raise PublishError(
            f"version {to!r} is not a complete published version; see 'segment versions'"
        )
    fingerprint, card = client.hmget(keys.meta(to), ["data_fingerprint", "card"])
    record = entry(
        ROLLBACK,
        to,
        who(by),
        previous=active,
        data_fingerprint=_text(fingerprint),
        card=_text(card),
    )
    activate(client, keys, to, lambda pipe: append(pipe, keys.audit, record))
    return to


def _text(value) -> str | None:
    return value.decode("utf-8") if isinstance(value, bytes) else value
