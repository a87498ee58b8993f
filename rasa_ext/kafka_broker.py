"""Rasa's Kafka event broker, made safe to run inside a turn when the broker is away.

    event_broker:
      type: rasa_ext.kafka_broker.BufferedKafkaBroker
      url: 127.0.0.1:9392
      topic: pz_events
      security_protocol: PLAINTEXT
      queue_size: 100000

Rasa's `KafkaEventBroker` (which this extends; same settings, same message: the event's
JSON keyed by sender, with the RASA_ENVIRONMENT header) blocks the turn when the broker is
unreachable: 5 s for a connection check on the first event, then up to 60 retries of 1-5 s
when its queue is full, and its delivery-report thread exits at once because the producer
does not exist yet when the thread starts. Here the producer is built at start-up, keeps
one request in flight and has no delivery timeout (realtime.kafka.producer_config): while
the broker is down, events wait in librdkafka's bounded queue and go out in order when it
returns. An event that cannot be queued (queue full, larger than the producer's message
limit, not JSON) costs that event, never the turn: it is counted in `overflow` and logged
(first time, then every 1000th).
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from confluent_kafka import KafkaException
from rasa.core.brokers.kafka import KafkaEventBroker
from rasa.utils.endpoints import EndpointConfig

from realtime.kafka import producer_config

logger = logging.getLogger(__name__)
DEFAULT_QUEUE_SIZE = 100_000


class BufferedKafkaBroker(KafkaEventBroker):
    def __init__(self, url: str, topic: str = "pz_events", **kwargs: Any) -> None:
        kwargs.setdefault("security_protocol", "PLAINTEXT")
        kwargs["partition_by_sender"] = True  # one user's events in order, in one partition
        super().__init__(url, topic, **kwargs)  # its poll thread ends at once (no producer)
        self.queue_size = int(self.queue_size or DEFAULT_QUEUE_SIZE)
        self.overflow = 0  # events that could not be queued (full, too large, not JSON)
        self.failed = 0  # delivery reports with an error (none while retrying forever)
        self.delivered = 0
        self.produced = 0
        self._lock = threading.Lock()
        self.producer = self._create_producer()
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-broker", daemon=True)
        self._poller.start()

    @classmethod
    async def from_endpoint_config(
        cls, broker_config: EndpointConfig, event_loop: Any = None
    ) -> BufferedKafkaBroker:
        return cls(broker_config.url, **broker_config.kwargs)

    def _get_kafka_config(self) -> dict[str, Any]:
        config = super()._get_kafka_config()  # its authentication settings and client id
        config.pop("error_cb", None)  # Rasa's raises inside poll() when all brokers are down
        config.update(producer_config(self.url, self.queue_size))
        config["error_cb"] = self._on_error
        return {k: v for k, v in config.items() if v is not None}

    def publish(self, event: dict[str, Any], *_: Any, **__: Any) -> None:
        """Rasa's signature has retry settings; nothing here retries inside a turn."""
        self.publish_many([event])

    def publish_many(self, events: list[dict[str, Any]]) -> None:
        """Queue a turn's events; never blocks, never raises into the turn."""
        for event in events:
            try:
                value = json.dumps(event).encode()
            except (TypeError, ValueError) as exc:
                self._count_overflow(event, f"not JSON: {exc}")
                continue
            try:
                self.producer.produce(
                    self.topic,
                    value=value,
                    key=str(event.get("sender_id", "")).encode(),
                    headers=[("RASA_ENVIRONMENT", self.rasa_environment.encode())],
                    on_delivery=self._on_delivery,
                )
            except BufferError:
                self._count_overflow(event, f"local queue full ({self.queue_size} events)")
                continue
            except KafkaException as exc:  # e.g. MSG_SIZE_TOO_LARGE, raised by produce()
                self._count_overflow(event, f"refused by the producer: {exc.args[0]}")
                continue
            with self._lock:
                self.produced += 1

    def _count_overflow(self, event: dict[str, Any], why: str) -> None:
        with self._lock:
            self.overflow += 1
            count = self.overflow
        if count == 1 or count % 1000 == 0:
            sender = str(event.get("sender_id"))[:64]
            logger.warning(
                "event for sender %r not sent to Kafka: %s (%d lost so far); is the broker "
                "at %s up?",
                sender,
                why,
                count,
                self.url,
            )

    def _on_delivery(self, err, message) -> None:
        with self._lock:
            if err is None:
                self.delivered += 1
                return
            self.failed += 1
        logger.error("event for %r not delivered to Kafka: %s", message.key(), err)

    def _on_error(self, err) -> None:
        logger.warning("Kafka broker %s: %s (events wait in the local queue)", self.url, err)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.1)

    @property
    def queued(self) -> int:
        """Events waiting for the broker. Counted here: len(producer) while the broker was
        down left the queue stuck after it came back (confluent-kafka 2.16, seen here)."""
        with self._lock:
            return self.produced - self.delivered - self.failed

    def is_ready(self) -> bool:
        return self._poller.is_alive()

    async def close(self) -> None:
        self._stop.set()
        self._poller.join(timeout=2)
        left = self.producer.flush(10)
        if left:
            logger.warning("%d event(s) still queued for Kafka at shutdown", left)
