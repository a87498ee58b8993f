"""Moving conversations from the Redis tracker store to PostgreSQL (real servers)."""

from __future__ import annotations

import asyncio
import uuid

import redis
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered

from rasa_ext.migrate_trackers import main
from tests.privacy.conftest import rasa_stores
from tests.servers import ROOT


async def seed(redis_url: str, namespace: str, conversations: dict[str, list[str]]) -> None:
    """Conversations as the Redis tracker store wrote them."""
    redis_store, _ = rasa_stores(redis_url, namespace)
    redis_store.domain = Domain.empty()
    for sender, texts in conversations.items():
        tracker = await redis_store.get_or_create_tracker(sender)
        for text in texts:
            tracker.update(UserUttered(text, {"name": "greet"}))
            tracker.update(ActionExecuted("utter_greet"))
        await redis_store.save(tracker)


def test_redis_trackers_are_copied_once_and_deleted_on_request(
    postgres, redis_url, tmp_path, monkeypatch
):
    namespace = f"m{uuid.uuid4().hex[:8]}"
    asyncio.run(seed(redis_url, namespace, {"ann": ["hi", "a phone please"], "ben": ["hello"]}))
    client = redis.Redis.from_url(redis_url)
    client.set(f"{namespace}:tracker:broken", "not json")
    db = postgres.database(f"m{uuid.uuid4().hex[:10]}")
    endpoints = tmp_path / "endpoints.yml"
    text = (ROOT / "endpoints.yml").read_text()
    endpoints.write_text(
        text.replace("port: 5490", f"port: {postgres.port}")
        .replace("db: voltmart", f"db: {db}")
        .replace("${PZ_POSTGRES_PASSWORD}", postgres.password)
    )
    for name in ("PZ_REDIS_PASSWORD", "PZ_ACTION_SECRET"):  # endpoints.yml names them
        monkeypatch.setenv(name, "unused")
    monkeypatch.setenv("PZ_REDIS_URL", redis_url)
    monkeypatch.setenv("PZ_PSEUDONYM_KEY", "k" * 32)
    args = ["--redis-url", redis_url, "--endpoints", str(endpoints), "--prefix", namespace]

    assert main(args) == 0
    assert [e["text"] for e in postgres.events(db, "ann") if e["event"] == "user"] == [
        "hi",
        "a phone please",
    ]
    asyncio.run(seed(redis_url, namespace, {"cid": ["new since"]}))
    assert main([*args, "--delete"]) == 0  # only the new one is copied, then its key goes
    assert len([e for e in postgres.events(db, "ben") if e["event"] == "user"]) == 1
    assert [e["text"] for e in postgres.events(db, "cid") if e["event"] == "user"] == ["new since"]
    assert client.exists(f"{namespace}:tracker:cid") == 0
    assert client.exists(f"{namespace}:tracker:ann") == 1  # already there: kept, not deleted
    client.delete(
        f"{namespace}:tracker:ann", f"{namespace}:tracker:ben", f"{namespace}:tracker:broken"
    )


def test_a_missing_endpoints_file_is_one_line_and_exit_1(capsys, redis_url, tmp_path):
    assert main(["--redis-url", redis_url, "--endpoints", str(tmp_path / "nope.yml")]) == 1
    assert capsys.readouterr().err.startswith("Error:")
