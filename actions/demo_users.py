"""Demo users, one per persona, so a newcomer can try every persona at once.

They have said yes to personalization, and their (made-up) contact details are
stored encrypted like a real customer's (privacy/fields.py).

python -m actions.demo_users [--redis-url URL]   (default: $PZ_REDIS_URL; a cluster with
                                                  PZ_REDIS_CLUSTER=1)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

from redis.exceptions import RedisError

from actions.personas import (
    BARGAIN_HUNTER,
    CASUAL_BROWSER,
    FREQUENT_BUYER,
    NEW_VISITOR,
    TECH_ENTHUSIAST,
)
from actions.redis_clients import cluster_mode
from actions.store import DEFAULT_URL, ProfileStore, StoreUnavailable
from privacy.consent import GRANTED, record_consent
from privacy.fields import encrypt_fields
from privacy.keys import Keyring, load_keyring
from privacy.urls import redact_url

DEMO_USERS: dict[str, dict[str, str]] = {
    "user_frequent": {"segment": FREQUENT_BUYER, "favourite_category": "smartphones"},
    "user_bargain": {"segment": BARGAIN_HUNTER, "favourite_category": "headphones"},
    "user_enthusiast": {"segment": TECH_ENTHUSIAST, "favourite_category": "laptops"},
    "user_casual": {"segment": CASUAL_BROWSER, "favourite_category": "smart_home"},
    "user_newcomer": {"segment": NEW_VISITOR},
}
DEMO_CONTACTS: dict[str, dict[str, str]] = {
    sender: {"name": f"Demo {sender.split('_')[1].title()}", "email": f"{sender}@demo.invalid"}
    for sender in DEMO_USERS
}


async def seed(store: ProfileStore, keyring: Keyring) -> list[str]:
    now = f"{time.time():.0f}"
    for sender_id, fields in DEMO_USERS.items():
        profile = {**fields, **DEMO_CONTACTS[sender_id], "updated_at": now}
        await store.put_profile(sender_id, encrypt_fields(profile, keyring))
        await record_consent(
            store.client, store.namespace, sender_id, GRANTED, "demo", store.pseudonym_key
        )
    return list(DEMO_USERS)


async def _main(url: str) -> int:
    keyring = load_keyring(allow_dev=True)
    store = ProfileStore.from_url(
        url, timeout=2.0, pseudonym_key=keyring.pseudonym_key, cluster=cluster_mode()
    )
    try:
        users = await seed(store, keyring)
    except (StoreUnavailable, RedisError, OSError) as exc:
        print(
            f"Error: cannot write demo users to {redact_url(url)} ({exc}); "
            "is Redis running? try 'make run'",
            file=sys.stderr,
        )
        return 1
    finally:
        await store.close()
    print(f"seeded {len(users)} demo users: {', '.join(users)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=os.environ.get("PZ_REDIS_URL", DEFAULT_URL))
    args = parser.parse_args(argv)
    return asyncio.run(_main(args.redis_url))


if __name__ == "__main__":
    sys.exit(main())
