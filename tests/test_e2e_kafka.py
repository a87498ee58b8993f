"""End to end on Kafka (PZ_EVENT_TRANSPORT=kafka, as `make run` starts it): Rasa's Kafka
event broker, the gateway's purchase ingest and the action server's shop events go to the
real broker; a real feature worker consumes the topic; the next answer changes.
(The Redis-stream path: tests/test_e2e.py, the same flow.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
import requests
import yaml

from core.pseudonyms import pseudonym
from core.settings import StreamSettings
from rasa_ext.endpoints import with_kafka
from realtime.kafka import ensure_topic
from tests.servers import (
    ROOT,
    VAR,
    RedisServer,
    action_server,
    feature_worker,
    free_port,
    gateway_server,
    kafka_broker,
    rasa_server,
    write_endpoints,
)
from tests.test_e2e import (
    KEY,
    KEYS,
    MODEL,
    crm_demo_token,
    demo_token,
    gateway_chat,
    night_timezone,
)


@pytest.fixture(scope="module")
def kafka_stack() -> Iterator[dict]:
    if not MODEL.exists():
        pytest.fail("models/voltmart.tar.gz is missing: run 'make train' first")
    broker = kafka_broker("e2e").start()
    stream = StreamSettings("kafka", broker.bootstrap, "pz_events", 6)
    ensure_topic(broker.bootstrap, stream.kafka_topic, 6)
    transport = {
        "PZ_EVENT_TRANSPORT": "kafka",
        "PZ_KAFKA_BOOTSTRAP": broker.bootstrap,
        "PZ_KAFKA_TOPIC": stream.kafka_topic,
    }
    redis_server = RedisServer("e2e-kafka").start()
    actions_port, rasa_port, gateway_port = free_port(), free_port(), free_port()
    endpoints = write_endpoints(VAR / "e2e-kafka-endpoints.yml", actions_port, redis_server)
    config = with_kafka(yaml.safe_load(endpoints.read_text()), stream)
    endpoints.write_text(yaml.safe_dump(config, sort_keys=False))
    experiments = VAR / "e2e-kafka-experiments.yml"  # bandit off: predictable wording
    experiments.write_text(
        (ROOT / "experiments" / "experiments.yml")
        .read_text()
        .replace("  enabled: true", "  enabled: false")
    )
    actions = action_server(actions_port, redis_server.url, experiments, name="kafka-actions")
    actions.env.update(transport)
    rasa = rasa_server(rasa_port, endpoints, name="kafka-rasa")
    gateway = gateway_server(
        gateway_port, rasa_port, redis_server.url, VAR / "secrets", "kafka-gateway", **transport
    )
    worker = None
    try:
        actions.start(timeout=90)
        rasa.start(timeout=240)
        gateway.start(timeout=60)
        worker = feature_worker("kafka-e2e-worker", redis_server.url, **transport)
        yield {
            "gateway": f"http://127.0.0.1:{gateway_port}",
            "redis": redis.Redis.from_url(redis_server.url, decode_responses=True),
            "redis_url": redis_server.url,
        }
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(15)
        gateway.stop()
        rasa.stop()
        actions.stop()
        redis_server.destroy()
        broker.stop()


def test_on_kafka_a_purchase_ingested_through_the_gateway_changes_the_next_answer(
    kafka_stack, planted
):
    from segmentation.publish import publish
    from segmentation.train import train

    gateway, db = kafka_stack["gateway"], kafka_stack["redis"]
    features, _ = planted
    result = train(features, "kmeans", 5, random_state=0)
    token, sender = demo_token(gateway, "default")
    bargain = next(s for s in result.meta["segments"] if s["persona"] == "bargain_hunter")
    publish(
        redis.Redis.from_url(kafka_stack["redis_url"]),
        [pseudonym(sender, KEY)],
        [bargain["id"]],
        {"segments": result.meta["segments"]},
        result.spec,
    )
    tz = night_timezone()
    said_yes = gateway_chat(gateway, token, {"message": "/give_consent"}, tz).json()
    assert said_yes["messages"][0]["text"].startswith("Thanks! From now on I'll tailor")
    before = gateway_chat(gateway, token, {"message": "any deals on headphones?"}, tz).json()
    assert before["messages"][0]["text"].startswith("Tonight's deals on headphones for you:")

    def live() -> dict:
        return db.hgetall(KEYS.live(sender))

    deadline = time.monotonic() + 60  # Rasa -> Kafka -> worker: the chat itself arrives
    while int(live().get("messages") or 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert int(live().get("messages") or 0) >= 1

    crm_token = crm_demo_token(gateway)
    for i in range(3):
        ingest = requests.post(
            f"{gateway}/v1/events/purchase",
            timeout=10,
            headers={"Authorization": f"Bearer {crm_token}"},
            json={"user_id": sender, "amount": 2300.0 + i, "category": "laptops"},
        )
        assert ingest.status_code == 202, ingest.text
        assert ingest.json()["event_id"].startswith("pz_events:")  # topic:partition:offset

    def all_three_applied() -> bool:
        # The three may arrive in separate fetches: the reason is set by the first one.
        now = live()
        reason = now.get("segment_reason", "").startswith("purchase: ")
        return reason and float(now.get("monetary") or 0) >= 6900

    deadline = time.monotonic() + 60  # the worker checks for a new model every 5 s
    while not all_three_applied():
        assert time.monotonic() < deadline, live()
        time.sleep(0.2)
    after = gateway_chat(gateway, token, {"message": "any deals on headphones?"}, tz).json()
    assert after["messages"] != before["messages"]
    assert "premium price range" in after["messages"][0]["text"]
