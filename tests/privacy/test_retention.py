"""Conversations and live features expire after the retention period (real Redis)."""

from __future__ import annotations

import pytest
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from core.redis_keys import UserKeys
from core.settings import Settings
from realtime.processing import FeatureWorker
from realtime.sources import RedisStreamSource
from realtime.stream import encode
from tests.privacy.conftest import rasa_stores


@pytest.mark.parametrize(
    ("value", "seconds"), [("", 30 * 86400), ("7", 7 * 86400), ("0.5", 43200), ("0", 0)]
)
def test_retention_setting(value, seconds):
    assert Settings.from_env({"PZ_RETENTION_DAYS": value}).privacy.retention_seconds == seconds


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_bad_retention_is_a_clear_error(value):
    with pytest.raises(ValueError, match="PZ_RETENTION_DAYS"):
        Settings.from_env({"PZ_RETENTION_DAYS": value})


async def test_trackers_and_live_features_expire(redis_url, ns):
    namespace, client = ns
    tracker_store, _ = rasa_stores(redis_url, namespace)
    await tracker_store.save(DialogueStateTracker.from_events("ret", [UserUttered("hi")]))
    ttl = await client.ttl(f"{namespace}:tracker:ret")
    assert 30 * 86400 - 60 < ttl <= 30 * 86400

    stream = f"{namespace}:events"
    await client.xadd(stream, encode({"event": "user", "sender_id": "ret", "timestamp": 1.0}))
    source = RedisStreamSource(client, stream)
    await source.ensure_group()
    worker = FeatureWorker(source, client, namespace, live_ttl_s=3600, require_consent=False)
    await worker.process(await source.read(10, 10))
    assert 3500 < await client.ttl(UserKeys(namespace).live("ret")) <= 3600
