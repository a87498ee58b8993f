"""Demo users, one per persona, so a newcomer can try every persona at once.

python -m actions.demo_users --redis-url redis://127.0.0.1:6390/0
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from actions.personas import (
    BARGAIN_HUNTER,
    CASUAL_BROWSER,
    FREQUENT_BUYER,
    NEW_VISITOR,
    TECH_ENTHUSIAST,
)
from actions.store import DEFAULT_URL, ProfileStore, StoreUnavailable

DEMO_USERS: dict[str, dict[str, str]] = {
    "user_frequent": {"segment": FREQUENT_BUYER, "favourite_category": "smartphones"},
    "user_bargain": {"segment": BARGAIN_HUNTER, "favourite_category": "headphones"},
    "user_enthusiast": {"segment": TECH_ENTHUSIAST, "favourite_category": "laptops"},
    "user_casual": {"segment": CASUAL_BROWSER, "favourite_category": "smart_home"},
    "user_newcomer": {"segment": NEW_VISITOR},
}


async def seed(store: ProfileStore) -> list[str]:
    now = f"{time.time():.0f}"
    for sender_id, fields in DEMO_USERS.items():
        await store.put_profile(sender_id, {**fields, "updated_at": now})
    return list(DEMO_USERS)


async def _main(url: str) -> int:
    store = ProfileStore.from_url(url, timeout=2.0)
    try:
        users = await seed(store)
    except StoreUnavailable as exc:
        print(
            f"Error: cannot write demo users to {url} ({exc}); is Redis running? try 'make run'",
            file=sys.stderr,
        )
        return 1
    finally:
        await store.close()
    print(f"seeded {len(users)} demo users: {', '.join(users)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=DEFAULT_URL)
    args = parser.parse_args(argv)
    return asyncio.run(_main(args.redis_url))


if __name__ == "__main__":
    sys.exit(main())
