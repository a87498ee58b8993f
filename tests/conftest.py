"""Shared fixtures: real Redis (the `make test` one, or a private one), real SDK objects, and
the actions' services built by the real composition root around a test store."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from cryptography.fernet import Fernet
from rasa_sdk import Tracker

from core.products import load_products
from core.settings import Settings
from personalization.services import Services, build_services
from personalization.store import ProfileStore
from privacy.consent import GRANTED, record_consent
from privacy.keyring import Keyring
from responses.engine import ResponseEngine
from responses.live_catalogue import CatalogueFile
from tests.servers import ROOT, PostgresServer, RedisServer

DATA = Path(__file__).parent / "data"
# Test keys: the development files under var/secrets are never read or created by tests.
TEST_KEYRING = Keyring((Fernet.generate_key(),), b"t" * 32)


@cache
def shipped_engine() -> ResponseEngine:
    """The shipped wording over the shipped products, loaded once per test run."""
    return ResponseEngine(CatalogueFile(Settings().paths.responses), load_products())


def services(store: ProfileStore, **parts: Any) -> Services:
    """What the action server would build (default settings: the shipped files), around
    `store`; `parts` replace any other part (chooser, generator, clock, keyring, engine)."""
    parts.setdefault("keyring", TEST_KEYRING)
    parts.setdefault("engine", shipped_engine())
    return build_services(Settings(), store=store, **parts)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL for the run (scripts/postgres.sh); tests take databases of it."""
    server = PostgresServer(f"session-{os.getpid()}").start()
    yield server
    server.destroy()


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
    tests/actions/test_consent.py covers users who have not.
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
