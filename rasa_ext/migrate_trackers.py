"""Copy conversations from the Redis tracker store into the PostgreSQL one.

    .venv/bin/python -m rasa_ext.migrate_trackers --redis-url redis://pz:...@127.0.0.1:6390/0
        [--endpoints endpoints.yml] [--prefix pz] [--delete]

Reads every ``<prefix>:tracker:<sender>`` key (SCAN, as the application user may not run
KEYS), and writes its events, in order, through the tracker store endpoints.yml names.
A conversation PostgreSQL already holds is left alone, so a second run copies only what is
new; with ``--delete`` a key is removed once its events are stored and counted back. Stop
Rasa first, so no conversation changes while it is copied. Exit codes: 0 done, 1 a store
could not be read or written (nothing deleted), 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

import redis
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config


async def migrate(client: redis.Redis, store: Any, prefix: str, delete: bool) -> dict[str, int]:
    counts = {"copied": 0, "already_there": 0, "unreadable": 0, "events": 0, "deleted": 0}
    held = set(await store.keys())
    pattern = f"{prefix}:tracker:*"
    for key in client.scan_iter(match=pattern, count=1000):
        name = key.decode() if isinstance(key, bytes) else key
        sender = name[len(pattern) - 1 :]
        if sender in held:
            counts["already_there"] += 1
            continue
        try:
            events = json.loads(client.get(key) or "{}")["events"]
            tracker = DialogueStateTracker.from_dict(sender, events, store.domain.slots)
        except (ValueError, KeyError, TypeError) as exc:
            print(f"skipped {name}: not a Rasa tracker ({exc})", file=sys.stderr)
            counts["unreadable"] += 1
            continue
        await store.save(tracker)
        stored = await store.retrieve_full_tracker(sender)
        if stored is None or len(stored.events) != len(tracker.events):
            raise RuntimeError(f"{sender!r}: stored events do not match; nothing deleted")
        counts["copied"] += 1
        counts["events"] += len(events)
        if delete:
            counts["deleted"] += client.delete(key)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-url", required=True, help="the Redis that holds the trackers")
    parser.add_argument("--endpoints", default="endpoints.yml", help="names the target store")
    parser.add_argument("--prefix", default="pz", help="the Redis tracker store's key_prefix")
    parser.add_argument("--delete", action="store_true", help="remove each copied Redis key")
    args = parser.parse_args(argv)
    try:
        config = read_endpoint_config(args.endpoints, "tracker_store")
        if config is None:
            raise ValueError(f"{args.endpoints} has no tracker_store section")
        store = TrackerStore.create(config, domain=Domain.empty())
        client = redis.Redis.from_url(args.redis_url, socket_timeout=5)
        counts = asyncio.run(migrate(client, store, args.prefix, args.delete))
    except (OSError, ValueError, RuntimeError, redis.RedisError) as exc:
        print(
            f"Error: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
            file=sys.stderr,
        )
        return 1
    except Exception as exc:  # the store's driver errors (SQLAlchemy, ...)
        print(f"Error: the tracker store failed: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
