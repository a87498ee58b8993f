"""Fixtures for the experiments tests: a Redis namespace of their own, the CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def ns(client):
    """A namespace no other test uses, emptied afterwards."""
    namespace = f"x{uuid.uuid4().hex[:8]}"
    yield namespace
    for key in client.scan_iter(match=f"{namespace}:*"):
        client.delete(key)


@pytest.fixture
def cli():
    """Run `python -m <module> <args>` from the project root (module: experiments[.cli])."""

    def run(*args: str, module: str = "experiments.cli") -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", module, *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=120,
        )

    return run
