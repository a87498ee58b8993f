"""Pointing the services at a cluster: PZ_REDIS_CLUSTER, PZ_SHARED_REDIS_URL, clear errors."""

from __future__ import annotations

import pytest

from core.redis_clients import is_cluster
from core.settings import RedisSettings, Settings, SettingsError
from gateway.config import ConfigError, GatewayConfig
from personalization.store import ProfileStore
from tests.cluster.conftest import KEY

SECRET = "s" * 40


def redis_settings(**env: str) -> RedisSettings:
    return Settings.from_env(env).redis


@pytest.mark.parametrize(("value", "expected"), [("", False), ("0", False), ("1", True)])
def test_cluster_mode_setting(value, expected):
    shared = {"PZ_SHARED_REDIS_URL": "redis://elsewhere"}
    assert redis_settings(PZ_REDIS_CLUSTER=value, **shared).cluster is expected


def test_bad_cluster_settings_are_clear_errors():
    with pytest.raises(SettingsError, match="PZ_REDIS_CLUSTER='maybe'"):
        redis_settings(PZ_REDIS_CLUSTER="maybe")
    with pytest.raises(SettingsError, match="needs PZ_SHARED_REDIS_URL"):
        redis_settings(PZ_REDIS_CLUSTER="1")
    assert redis_settings(PZ_SHARED_REDIS_URL="redis://elsewhere").shared_url is None  # one server
    with pytest.raises(ConfigError, match="needs PZ_SHARED_REDIS_URL"):
        GatewayConfig.from_env({"PZ_JWT_SECRET": SECRET, "PZ_REDIS_CLUSTER": "1"})


async def test_the_action_servers_store_from_the_environment(cluster, monkeypatch, redis_url, ns):
    monkeypatch.setenv("PZ_REDIS_CLUSTER", "1")
    monkeypatch.setenv("PZ_REDIS_URL", cluster.url)
    monkeypatch.setenv("PZ_SHARED_REDIS_URL", redis_url)
    monkeypatch.setenv("PZ_PSEUDONYM_KEY", KEY.decode())
    monkeypatch.setenv("PZ_NAMESPACE", ns)
    monkeypatch.setenv("PZ_REDIS_TIMEOUT_MS", "1500")  # under the action deadline (1800 ms)
    store = ProfileStore.from_settings(Settings.from_env())
    assert is_cluster(store.client) and not is_cluster(store.shared_client)
    await store.put_profile("dora", {"segment": "casual_browser"})
    assert (await store.get_user("dora")).profile == {b"segment": b"casual_browser"}
    assert await store.ping()
    await store.client.delete(store.keys.profile("dora"))
    await store.close()
