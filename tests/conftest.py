"""Shared fixtures: real Redis (the `make test` one, or a private one), real SDK objects."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from rasa_sdk import Tracker

from actions.store import ProfileStore
from privacy.consent import GRANTED, record_consent
from tests.servers import ROOT, RedisServer

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """`make test` starts a test Redis and says where; plain `pytest` gets a private one."""
    url = os.environ.get("PZ_TEST_REDIS_URL")
    if url:
        yield url
        return
    server = RedisServer("session").start()
    yield server.url
    server.destroy()


FIXTURE_USER = "user_test"  # the sender of the tracker fixtures in tests/data/


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[ProfileStore]:
    """A store in a namespace of its own, so tests never see each other's keys.

    The fixtures' user has consented to personalization, as a returning customer would;
    tests/test_consent.py covers users who have not.
    """
    store = ProfileStore.from_url(redis_url, timeout=0.2, namespace=f"t{uuid.uuid4().hex[:10]}")
    await record_consent(store.client, store.namespace, FIXTURE_USER, GRANTED, "rest")
    yield store
    keys = [k async for k in store._client.scan_iter(match=f"{store.namespace}:*")]
    if keys:
        await store._client.delete(*keys)
    await store.close()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A Redis this test may stop or freeze without disturbing the others."""
    server = RedisServer("private").start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "domain.yml").read_text())


def tracker_from_fixture(name: str, **overrides: Any) -> Tracker:
    """A real rasa-sdk Tracker from tests/data/<name>.json, with fields replaced."""
    state = json.loads((DATA / f"{name}.json").read_text())
    slots = overrides.pop("slots", None)
    if slots:
        state["slots"].update(slots)
    state.update(overrides)
    return Tracker.from_dict(state)


@pytest.fixture(scope="session")
def planted() -> tuple[pd.DataFrame, pd.Series]:
    """(features, planted persona per row) for 3,000 synthetic users with five personas."""
    from segmentation.features import build_features
    from segmentation.synthetic import make_dataset

    transactions, events, truth = make_dataset(3000, random_state=1)
    features, _ = build_features(transactions, events)
    return features, truth.loc[features["user_id"]].reset_index(drop=True)
