"""The event stream on a Kafka-compatible broker: client settings, the topic, an async sender.

Events are keyed by user (`sender_id`), so one user's events land in one partition and
the feature workers see them in order; partitions are what several workers of one group
share. Producers keep one request in flight, so a retry after a lost connection does not
reorder what one producer sent.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import threading
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from core.settings import StreamSettings
from realtime.sources import Entry, decode
from realtime.stream import RedisStreamSink

logger = logging.getLogger(__name__)


class KafkaUnavailable(RuntimeError):
    """The broker cannot be reached, or refused a request; the message says which."""


LIBRDKAFKA = logging.getLogger("librdkafka")  # its log lines, through logging, not raw stderr


def client_config(bootstrap: str) -> dict[str, Any]:
    """What every client of the project's broker shares (loopback, no auth: see README)."""
    return {
        "bootstrap.servers": bootstrap,
        "socket.connection.setup.timeout.ms": 3000,
        "reconnect.backoff.max.ms": 1000,  # a restarted broker is found within a second
        # A broker restarted empty (memory storage) lacks the topic until it is created
        # again; clients that looked in between would otherwise wait 5 minutes to look again.
        "topic.metadata.refresh.interval.ms": 5000,
        "logger": LIBRDKAFKA,
    }


def producer_config(
    bootstrap: str, queue_size: int = 100_000, delivery_timeout_ms: int = 0
) -> dict[str, Any]:
    """Ordered across retries: one request in flight per connection. Not librdkafka's
    idempotent mode: a broker restarted empty (memory storage) does not know the producer's
    sequence numbers, and the idempotent producer then stalled for good (seen here). A retry
    after a lost acknowledgement can duplicate one batch. delivery_timeout_ms 0 keeps
    retrying while the broker is down (events wait in the bounded local queue)."""
    return {
        **client_config(bootstrap),
        "enable.idempotence": False,
        "max.in.flight.requests.per.connection": 1,
        "acks": "all",
        "linger.ms": 5,
        "queue.buffering.max.messages": queue_size,
        "message.timeout.ms": delivery_timeout_ms,
    }


def consumer_config(bootstrap: str, group: str, client_id: str) -> dict[str, Any]:
    """Offsets committed by the worker after a batch is applied, never automatically; a
    worker that stops heartbeating for 10 s loses its partitions to the group's others."""
    return {
        **client_config(bootstrap),
        "group.id": group,
        "client.id": client_id,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 1_000,
        "max.poll.interval.ms": 300_000,
        # Tansu holds a fetch for the whole wait even when records arrive meanwhile (event
        # to segment p50 234 ms at librdkafka's 500 ms, bench/streams.py); 25 ms costs an
        # idle worker 40 small requests a second on loopback.
        "fetch.wait.max.ms": 25,
    }


def topic_partitions(bootstrap: str, topic: str, timeout_s: float = 5.0) -> int | None:
    """How many partitions `topic` has; None when the broker does not know it."""
    admin = AdminClient({**client_config(bootstrap), "log_level": 0})  # a probe: no noise
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise KafkaUnavailable(f"Kafka broker {bootstrap} unreachable ({exc.args[0]})") from None
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        return None
    return len(found.partitions)


def ensure_topic(bootstrap: str, topic: str, partitions: int, timeout_s: float = 10.0) -> int:
    """Create `topic` with `partitions` unless it exists; its partition count either way."""
    existing = topic_partitions(bootstrap, topic, timeout_s)
    if existing is not None:
        return existing
    admin = AdminClient(client_config(bootstrap))
    future = admin.create_topics([NewTopic(topic, partitions, 1)])[topic]
    try:
        future.result(timeout=timeout_s)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise KafkaUnavailable(f"cannot create topic {topic!r}: {exc.args[0]}") from None
    return topic_partitions(bootstrap, topic, timeout_s) or partitions


def missing_topic_error(bootstrap: str, topic: str) -> str:
    return (
        f"topic {topic!r} does not exist on the Kafka broker {bootstrap}; create it with "
        f"`.venv/bin/python -m realtime.kafka_server topic --topic {topic}` (make run does)"
    )


class KafkaSink:
    """Events onto the topic, keyed by user. confirm=True (the gateway's ingest): `publish`
    returns once the broker has the event (its id, topic:partition:offset) or raises
    KafkaUnavailable, so a 202 means stored. confirm=False (the shop's cart and order events,
    inside an action's deadline): queued and retried until delivered, like Rasa's broker;
    a full queue raises KafkaUnavailable."""

    def __init__(
        self, bootstrap: str, topic: str, confirm: bool = True, delivery_timeout_ms: int = 2000
    ) -> None:
        self.topic, self.confirm = topic, confirm
        self.timeout_s = delivery_timeout_ms / 1000 + 1.0  # librdkafka reports by then
        timeout = delivery_timeout_ms if confirm else 0
        self.producer = Producer(producer_config(bootstrap, 10_000, timeout))
        self.failed = 0
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-sink", daemon=True)
        self._poller.start()
        if not confirm:
            atexit.register(self.close)  # what is queued goes out before the process ends

    def _poll(self) -> None:  # delivery reports are served here, off the event loop
        while not self._stop.is_set():
            self.producer.poll(0.1)

    async def publish(self, event: dict[str, Any]) -> str:
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()

        def delivered(err, message) -> None:
            outcome = (err, None) if err else (None, message)
            loop.call_soon_threadsafe(_settle, done, *outcome)

        value = json.dumps(event, separators=(",", ":")).encode()
        try:
            self.producer.produce(
                self.topic,
                value=value,
                key=str(event.get("sender_id", "")).encode(),
                on_delivery=delivered if self.confirm else self._logged,
            )
        except BufferError:
            raise KafkaUnavailable("Kafka producer queue full") from None
        except KafkaException as exc:
            raise KafkaUnavailable(str(exc.args[0])) from None
        if not self.confirm:
            return "queued"
        try:
            async with asyncio.timeout(self.timeout_s):
                message = await done
        except TimeoutError:
            raise KafkaUnavailable("no delivery report from the broker") from None
        return f"{message.topic()}:{message.partition()}:{message.offset()}"

    def _logged(self, err, message) -> None:
        if err is not None:
            self.failed += 1
            logger.error("event for %r not delivered to Kafka: %s", message.key(), err)

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._poller.join(timeout=2)
        left = self.producer.flush(5)
        if left:
            logger.warning("%d event(s) still undelivered to Kafka at shutdown", left)


def _settle(done: asyncio.Future, err, message) -> None:
    if done.done():
        return
    if err is not None:
        done.set_exception(KafkaUnavailable(f"not delivered: {err}"))
    else:
        done.set_result(message)


class KafkaSource:
    """The feature worker's EventSource over a consumer group: partitions are shared by the
    group's workers and move to the others when one stops heartbeating.

    Offsets are committed after a batch is applied (the highest offset per partition, one
    call), so a crash or a rebalance replays the uncommitted tail; the worker applies each
    event id once, so the replay counts nothing twice. The event id is the record's
    topic:partition:offset plus its timestamp: a broker restarted empty (memory storage)
    hands out offsets again, and must not have new events taken for replays. The blocking
    client runs in threads so the event loop stays free.
    """

    def __init__(self, consumer, topic: str) -> None:
        self.consumer, self.topic = consumer, topic
        self._pending: dict[str, tuple[int, int]] = {}  # event id -> (partition, offset)
        self.commit_failures = 0
        self.high: dict[int, int] = {}
        self.partitions: int | None = None  # assigned at the last lag sample

    @classmethod
    def create(
        cls,
        bootstrap: str,
        topic: str,
        group: str = "features",
        client_id: str = "worker-1",
        stats_interval_ms: int = 5000,
    ) -> KafkaSource:
        """Raises KafkaUnavailable (one line) when the broker is down or lacks the topic."""
        if topic_partitions(bootstrap, topic) is None:
            raise KafkaUnavailable(missing_topic_error(bootstrap, topic))
        high: dict[int, int] = {}  # partition -> high watermark, from fetch statistics
        config = consumer_config(bootstrap, group, client_id)
        config.update(
            {"statistics.interval.ms": stats_interval_ms, "stats_cb": _watermarks(topic, high)}
        )
        consumer = Consumer(config)
        consumer.subscribe([topic])
        source = cls(consumer, topic)
        source.high = high
        return source

    async def read(self, count: int, block_ms: int) -> list[Entry]:
        try:
            messages = await asyncio.to_thread(self._consume, count, block_ms / 1000)
        except KafkaException as exc:  # librdkafka reconnects by itself; try again
            logger.warning("kafka consume failed: %s", exc.args[0])
            await asyncio.sleep(1)
            return []
        out: list[Entry] = []
        for message in messages or []:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    logger.warning("kafka: %s", error)
                continue
            partition, offset = message.partition(), message.offset()
            eid = f"{message.topic()}:{partition}:{offset}:{message.timestamp()[1]}"
            self._pending[eid] = (partition, offset)
            out.append((eid, decode(message.value())))
        return out

    def _consume(self, count: int, block_s: float) -> list:
        """Wait up to block_s for the first record only, then take what is already fetched:
        consume(count, timeout) alone waits for `count` records, holding a quiet stream's
        events back by up to block_s (1.7 s median at 200 events/s, bench/streams.py)."""
        first = self.consumer.poll(block_s)
        if first is None:
            return []
        return [first, *self.consumer.consume(count - 1, 0)] if count > 1 else [first]

    async def ack(self, event_ids: list[str]) -> None:
        highest: dict[int, int] = {}
        for eid in event_ids:
            partition, offset = self._pending.pop(eid, (-1, -1))
            if partition >= 0:
                highest[partition] = max(highest.get(partition, -1), offset)
        if not highest:
            return
        offsets = [TopicPartition(self.topic, p, o + 1) for p, o in sorted(highest.items())]
        try:
            await asyncio.to_thread(self.consumer.commit, offsets=offsets, asynchronous=False)
        except KafkaException as exc:  # e.g. the partitions moved to another worker
            self.commit_failures += 1
            logger.warning(
                "offsets not committed (%s): the partitions' next owner replays them, and "
                "replayed events are applied once",
                exc.args[0],
            )

    async def lag(self) -> int | None:
        """Records of this worker's partitions it has not read yet."""
        return await asyncio.to_thread(self._lag)

    def _lag(self) -> int | None:
        """From the high watermarks fetches report (librdkafka statistics): Tansu answers
        ListOffsets with a wrong high watermark (1 after 100 records, seen here)."""
        assignment = self.consumer.assignment()
        self.partitions = len(assignment)
        if not assignment:
            return 0
        try:
            positions = self.consumer.position(assignment)
        except KafkaException:
            return None
        return sum(max(0, self.high.get(tp.partition, 0) - max(tp.offset, 0)) for tp in positions)

    def close(self) -> None:
        """Leave the group, so the others take the partitions at once."""
        self.consumer.close()


def _watermarks(topic: str, high: dict[int, int]):
    def record(stats_json: str) -> None:
        partitions = json.loads(stats_json).get("topics", {}).get(topic, {}).get("partitions", {})
        for partition, numbers in partitions.items():
            if int(partition) >= 0 and numbers.get("hi_offset", -1) >= 0:
                high[int(partition)] = numbers["hi_offset"]

    return record


def event_sink(
    stream: StreamSettings, redis_client, redis_stream: str, confirm: bool = True
) -> RedisStreamSink | KafkaSink:
    """Where a process that produces shop events writes them (PZ_EVENT_TRANSPORT)."""
    if stream.transport == "kafka":
        return KafkaSink(stream.kafka_bootstrap, stream.kafka_topic, confirm)
    return RedisStreamSink(redis_client, redis_stream)
