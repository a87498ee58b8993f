"""Demo users, seeded into a real Redis the way `make run` does."""

from __future__ import annotations

import os
import subprocess
import sys

from core.demo import DEMO_USER_IDS
from personalization.profiles import parse_profile
from personalization.store import ProfileStore
from tests.servers import ROOT
from tools.demo_users import seed


async def profile_of(store: ProfileStore, sender_id: str):
    return (await store.get_user(sender_id)).profile


async def test_seed_writes_each_demo_user_with_facts_and_no_override(store):
    from cryptography.fernet import Fernet

    from privacy.fields import decrypt_fields
    from privacy.keyring import Keyring

    keyring = Keyring((Fernet.generate_key(),), b"p" * 32)
    users = await seed(store, keyring)

    for sender in users:
        stored = await profile_of(store, sender)
        profile = parse_profile(stored)
        assert profile.segment is None  # their segment comes from the published model
        assert stored[b"email"].startswith(b"enc:v1:")  # contact details encrypted at rest
        assert decrypt_fields(stored, keyring)["email"] == f"{sender}@demo.invalid"
        assert (await store.get_user(sender)).consent == "granted"
    assert tuple(users) == DEMO_USER_IDS


def test_the_command_seeds_every_demo_user_and_fails_in_one_line_without_redis(redis_url, tmp_path):
    env = {**os.environ, "PZ_SECRETS_DIR": str(tmp_path), "PZ_NAMESPACE": "tdemo"}
    command = [sys.executable, "-m", "tools.demo_users", "--redis-url"]
    done = subprocess.run([*command, redis_url], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert (
        done.stdout.strip() == f"seeded {len(DEMO_USER_IDS)} demo users: {', '.join(DEMO_USER_IDS)}"
    )

    down = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    failed = subprocess.run([*command, down], capture_output=True, text=True, env=env, cwd=ROOT)
    assert failed.returncode == 1
    assert failed.stderr.startswith("Error: cannot write demo users to redis://127.0.0.1:1/0")
    assert len(failed.stderr.strip().splitlines()) == 1 and "Traceback" not in failed.stderr
