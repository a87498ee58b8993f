"""Security-test fixtures: the gateway tests' Rasa stub and gateway factory, reused."""

from __future__ import annotations

import pytest

from gateway.config import RateLimit
from tests.gateway.conftest import Gateway, make_gateway, rasa

__all__ = ["fuzz_gateway", "make_gateway", "rasa"]

# Far above what a fuzz run sends, so requests reach the handlers instead of stopping at 429
# (tests/gateway/test_ratelimit.py covers the limits themselves).
UNLIMITED = RateLimit(1_000_000, 10)


@pytest.fixture
async def fuzz_gateway(make_gateway) -> Gateway:
    return await make_gateway(address_rate=UNLIMITED, user_rate=UNLIMITED, ingest_rate=UNLIMITED)
