"""Move per-user keys written before issue 7 to the hash-tagged layout (core/redis_keys.py).

    voltmart-migrate-keys [--redis-url URL] [--namespace pz] [--dry-run]
    (python -m tools.migrate_keys)

On one Redis server (RENAMENX keeps values and expiry times):

    <ns>:profile:<user>        ->  <ns>:profile:{<b>}:<user>
    <ns>:consent:<user>        ->  <ns>:consent:{<b>}:<user>
    <ns>:live:<user>[:ids]     ->  <ns>:live:{<b>}:<user>[:ids]
    <ns>:seg:<ver>:b:<b>       ->  <ns>:seg:<ver>:b:{<b>}
    <ns>:seg:active            ->  also copied to <ns>:seg:active:{<b>} for every bucket

<b> is the bucket of the user's pseudonym, so the pseudonym key must be the services' one
(PZ_PSEUDONYM_KEY or its file; development: var/secrets/). Keys already in the new layout
are left alone, so the command can be run again; a key whose new name is already taken is
left under its old name and counted as a conflict. Stop the services first (erasure markers
are not moved: they expire within two minutes). To move to a Redis Cluster, migrate the
standalone server first, then copy it over (`redis-cli --cluster import`).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter

import redis

from core.redis_keys import BUCKETS, UserKeys, bucket_active_key, bucket_key
from core.settings import command_settings
from core.urls import redact_url
from privacy.keyring import service_pseudonym_key

_TAGGED = re.compile(r"\{(\d+)\}:(.*)", re.S)
_OLD_BUCKET = re.compile(r"(?P<version>[^:{}]+):b:(?P<bucket>\d+)")


def _is_new(keys: UserKeys, rest: str) -> bool:
    """`rest` (the key after `<ns>:<kind>:`) already names a user under their own tag."""
    match = _TAGGED.fullmatch(rest)
    return bool(match) and int(match[1]) == keys.bucket(match[2])


def new_name(keys: UserKeys, key: str) -> tuple[str, str] | None:
    """(kind, new key) for an old-layout key of this namespace; None if nothing to move."""
    ns = keys.namespace
    for kind, build in (("profile", keys.profile), ("consent", keys.consent)):
        prefix = f"{ns}:{kind}:"
        if key.startswith(prefix):
            rest = key[len(prefix) :]
            return None if _is_new(keys, rest) else (kind, build(rest))
    prefix = f"{ns}:live:"
    if key.startswith(prefix):
        rest = key[len(prefix) :]
        if _is_new(keys, rest) or (rest.endswith(":ids") and _is_new(keys, rest[:-4])):
            return None
        if rest.endswith(":ids"):  # as before: the event-id set of user `rest[:-4]`
            return "live", keys.live_ids(rest[:-4])
        return "live", keys.live(rest)
    match = (
        _OLD_BUCKET.fullmatch(key[len(f"{ns}:seg:") :]) if key.startswith(f"{ns}:seg:") else None
    )
    if match:
        return "segment_buckets", bucket_key(ns, match["version"], int(match["bucket"]))
    return None


def migrate(client: redis.Redis, keys: UserKeys, dry_run: bool = False) -> Counter:
    """Rename old-layout keys in one namespace; returns counts by kind (and `conflicts`)."""
    ns = keys.namespace
    counts: Counter = Counter()
    for pattern in (f"{ns}:profile:*", f"{ns}:consent:*", f"{ns}:live:*", f"{ns}:seg:*:b:*"):
        page: list[tuple[str, str, str]] = []
        for raw in client.scan_iter(match=pattern, count=1000):
            try:
                key = raw.decode("utf-8")
            except UnicodeDecodeError:  # not an id any service could have written
                counts["skipped"] += 1
                continue
            target = new_name(keys, key)
            if target is not None:
                page.append((key, *target))
            if len(page) >= 1000:
                _rename(client, page, counts, dry_run)
                page = []
        _rename(client, page, counts, dry_run)
    active = client.get(f"{ns}:seg:active")
    if active is not None:
        counts["active_copies"] = BUCKETS
        if not dry_run:
            with client.pipeline(transaction=True) as pipe:
                for bucket in range(BUCKETS):
                    pipe.set(bucket_active_key(ns, bucket), active)
                pipe.execute()
    return counts


def _rename(client: redis.Redis, page, counts: Counter, dry_run: bool) -> None:
    if not page:
        return
    if dry_run:
        counts.update(kind for _, kind, _ in page)
        return
    with client.pipeline(transaction=False) as pipe:
        for old, _, new in page:
            pipe.renamenx(old, new)
        done = pipe.execute(raise_on_error=False)
    for (_, kind, _), result in zip(page, done, strict=True):
        if result is True or result == 1:
            counts[kind] += 1
        elif not isinstance(result, redis.ResponseError):  # 0: the new name is taken
            counts["conflicts"] += 1
        # a ResponseError: the old key vanished meanwhile (expired); nothing to move


def main(argv: list[str] | None = None) -> int:
    settings = command_settings()
    parser = argparse.ArgumentParser(
        prog="voltmart-migrate-keys", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--redis-url", default=settings.redis.url)
    parser.add_argument("--namespace", default=settings.redis.namespace)
    parser.add_argument("--dry-run", action="store_true", help="count, change nothing")
    args = parser.parse_args(argv)
    try:
        if settings.redis.cluster:
            raise ValueError(
                "migrate the standalone server (unset PZ_REDIS_CLUSTER), then copy it to the "
                "cluster with 'redis-cli --cluster import'"
            )
        key = service_pseudonym_key(settings)
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    client = redis.Redis.from_url(args.redis_url, socket_timeout=30, socket_connect_timeout=5)
    try:
        counts = migrate(client, UserKeys(args.namespace, key), args.dry_run)
    except redis.RedisError as exc:
        print(
            f"Error: cannot migrate keys in {redact_url(args.redis_url)} ({exc}); "
            "is Redis running? try 'make run'",
            file=sys.stderr,
        )
        return 1
    finally:
        client.close()
    moved = {k: v for k, v in counts.items() if k not in ("conflicts", "active_copies", "skipped")}
    verb = "would move" if args.dry_run else "moved"
    summary = ", ".join(f"{kind} {n}" for kind, n in sorted(moved.items())) or "nothing"
    print(
        f"{verb} {sum(moved.values())} keys ({summary}); active-version copies: "
        f"{counts['active_copies']}"
    )
    if counts["conflicts"]:
        print(
            f"{counts['conflicts']} old keys kept: their new name already exists "
            "(written after the upgrade); compare and delete them by hand"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
