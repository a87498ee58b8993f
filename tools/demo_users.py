"""Write the demo users (core/demo.py) into Redis, so a newcomer can try every persona.

Each profile holds the facts of the user's own orders in the generated shop history
(segmentation/shop_history.py: favourite category, order count and total, last order) and
no `segment`: the published model places them (`voltmart-demo-segments`). They have said
yes to personalization, and their (made-up) contact details are stored encrypted like a
real customer's (privacy/fields.py).

    voltmart-demo-users [--redis-url URL]   (python -m tools.demo_users; default:
                                             $PZ_REDIS_URL, a cluster with PZ_REDIS_CLUSTER=1)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from redis.exceptions import RedisError

from core.demo import DEMO_CONTACTS, DEMO_USER_IDS
from core.products import load_products
from core.settings import DEFAULT_POLICY_VERSION, Settings, command_settings
from core.urls import redact_url
from personalization.store import ProfileStore, StoreUnavailable
from privacy.consent import GRANTED, record_consent
from privacy.fields import encrypt_fields
from privacy.keyring import Keyring, service_keyring
from segmentation.shop_history import demo_facts


async def seed(
    store: ProfileStore, keyring: Keyring, policy: str = DEFAULT_POLICY_VERSION
) -> list[str]:
    """Write every demo user's profile (history facts, contacts encrypted) and consent;
    their ids."""
    now = f"{time.time():.0f}"
    catalogue = load_products()
    for sender_id in DEMO_USER_IDS:
        facts = demo_facts(sender_id, catalogue)
        profile = {**facts, **DEMO_CONTACTS[sender_id], "updated_at": now}
        await store.put_profile(sender_id, encrypt_fields(profile, keyring))
        await record_consent(
            store.client,
            store.namespace,
            sender_id,
            GRANTED,
            "demo",
            store.pseudonym_key,
            policy,
        )
    return list(DEMO_USER_IDS)


async def _main(settings: Settings, url: str) -> int:
    keyring = service_keyring(settings)
    store = ProfileStore.from_url(
        url, timeout=2.0, pseudonym_key=keyring.pseudonym_key, cluster=settings.redis.cluster
    )
    try:
        users = await seed(store, keyring, settings.privacy.policy_version)
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
    settings = command_settings()
    parser = argparse.ArgumentParser(
        prog="voltmart-demo-users", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--redis-url", default=settings.redis.url)
    args = parser.parse_args(argv)
    return asyncio.run(_main(settings, args.redis_url))


if __name__ == "__main__":
    sys.exit(main())
