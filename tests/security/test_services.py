"""Locked-down services: Redis as scripts/redis.sh and tests/servers.py start it, the Rasa
version floor, and the bound on Rasa's action calls. Figures go to var/security/services.json."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest
import rasa.core.actions.action as rasa_action
import redis

from core.settings import Settings
from rasa_ext import deadlines
from rasa_ext.versions import MINIMUM_RASA, check_rasa
from tests.servers import ROOT, VAR, RedisServer

RESULTS = VAR.parent / "security" / "services.json"
DANGEROUS = [
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("KEYS", "*"),
    ("CONFIG", "GET", "*"),
    ("DEBUG", "SLEEP", "0"),
    ("SHUTDOWN",),
    ("MONITOR",),
    ("SAVE",),
]


def non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("10.255.255.255", 1))  # no packet is sent; picks the outgoing address
            address = sock.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def record(name: str, value: object) -> None:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[name] = value
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")


@pytest.fixture(scope="module")
def server():
    server = RedisServer("locked").start()
    yield server
    server.destroy()


def test_redis_refuses_anonymous_clients(server: RedisServer):
    anonymous = redis.Redis(port=server.port, socket_timeout=2)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    wrong = redis.Redis(port=server.port, username="pz", password="wrong", socket_timeout=2)
    with pytest.raises(redis.AuthenticationError):
        wrong.ping()
    assert redis.Redis.from_url(server.url).ping()
    record("redis_anonymous_refused", True)


def test_the_application_user_cannot_run_dangerous_commands(server: RedisServer):
    app = redis.Redis.from_url(server.url, socket_timeout=2)
    refused = 0
    for command in DANGEROUS:
        with pytest.raises(redis.exceptions.ResponseError, match=r"permission|not allowed"):
            app.execute_command(*command)
        refused += 1
    assert redis.Redis.from_url(server.admin_url).execute_command("CONFIG", "GET", "bind")
    record("redis_dangerous_refused", f"{refused}/{len(DANGEROUS)}")


def test_redis_listens_on_loopback_only(server: RedisServer):
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to try")
    with pytest.raises(OSError), socket.create_connection((address, server.port), timeout=2):
        pass
    record("redis_loopback_only", True)


def test_the_project_redis_script_configures_the_same(tmp_path):
    script = (ROOT / "scripts" / "redis.sh").read_text()
    # The default user is locked behind a random password (not off: redis/redis#14541).
    locked = "user default on #$(head -c 32 /dev/urandom | sha256sum"
    for setting in ("--bind 127.0.0.1", "--aclfile", locked, "-@dangerous"):
        assert setting in script, setting
    url = subprocess.run(
        [str(ROOT / "scripts" / "redis.sh"), "url", "check", "1"],
        capture_output=True,
        text=True,
        check=True,
        env={"PZ_SECRETS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    ).stdout.strip()
    password = (tmp_path / "redis.password").read_text()
    assert url == f"redis://pz:{password}@127.0.0.1:1/0" and len(password) >= 32
    assert (tmp_path / "redis.password").stat().st_mode & 0o077 == 0


def test_rasa_is_new_enough_and_old_ones_are_refused():
    assert check_rasa() >= str(MINIMUM_RASA)
    with pytest.raises(RuntimeError, match="CVE-2024-49375"):
        check_rasa("3.6.20")
    record("rasa_version", check_rasa())


def test_rasa_waits_for_an_action_at_most_the_action_timeout(monkeypatch):
    monkeypatch.setattr(rasa_action, "DEFAULT_REQUEST_TIMEOUT", rasa_action.DEFAULT_REQUEST_TIMEOUT)
    defaults = Settings.from_env({}).deadlines
    assert deadlines.apply(defaults) == 2.0 and rasa_action.DEFAULT_REQUEST_TIMEOUT == 2.0
    with pytest.raises(ValueError, match="between 0 and 300"):
        Settings.from_env({"PZ_ACTION_TIMEOUT_S": "0"})
    assert defaults.turn_s < defaults.gateway_s  # under the gateway's Rasa timeout
