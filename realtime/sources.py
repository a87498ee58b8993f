"""Where the feature worker reads events from: a Redis stream (default) or Kafka.

Both give the worker the same thing: batches of (event_id, event dict) and an
`ack` once a batch is applied, so the worker code does not know which it is.
Unacknowledged events come back after a crash: Redis through the consumer
group's pending list, Kafka through uncommitted offsets.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import ujson as json  # 2-3x faster than the standard library on small events
from redis.exceptions import ResponseError

logger = logging.getLogger(__name__)
Entry = tuple[str, dict[str, Any] | None]  # None: the entry is not a valid event


class EventSource(Protocol):
    async def read(self, count: int, block_ms: int) -> list[Entry]: ...
    async def ack(self, event_ids: list[str]) -> None: ...


def decode(raw: Any) -> dict[str, Any] | None:
    try:
        event = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return event if isinstance(event, dict) else None


class RedisStreamSource:
    """A consumer in a Redis Streams consumer group; replays its own pending entries first."""

    def __init__(
        self,
        client,
        stream: str,
        group: str = "features",
        consumer: str = "worker-1",
        claim_idle_ms: int = 60_000,
    ) -> None:
        self.client, self.stream, self.group, self.consumer = client, stream, group, consumer
        self.claim_idle_ms = claim_idle_ms
        self._replaying = True
        self._claim_from = "0-0"

    async def ensure_group(self) -> None:
        try:
            await self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, count: int, block_ms: int) -> list[Entry]:
        if self._replaying:  # our own pending entries: delivered before a crash, never acked
            reply = await self.client.xreadgroup(
                self.group, self.consumer, {self.stream: "0"}, count=count
            )
            entries = reply[0][1] if reply else []
            if entries:
                return [self._entry(eid, fields) for eid, fields in entries]
            self._replaying = False
            claimed = await self._claim_abandoned(count)
            if claimed:
                return claimed
        reply = await self.client.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=count, block=block_ms
        )
        return [self._entry(eid, fields) for eid, fields in (reply[0][1] if reply else [])]

    async def _claim_abandoned(self, count: int) -> list[Entry]:
        """Entries another consumer took and never acked (it died): take them over."""
        reply = await self.client.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            self.claim_idle_ms,
            self._claim_from,
            count=count,
        )
        self._claim_from = reply[0]
        return [self._entry(eid, fields) for eid, fields in reply[1] if fields]

    @staticmethod
    def _entry(entry_id, fields) -> Entry:
        eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        raw = (fields or {}).get(b"event", (fields or {}).get("event"))
        return eid, decode(raw)

    async def ack(self, event_ids: list[str]) -> None:
        if event_ids:
            await self.client.xack(self.stream, self.group, *event_ids)


class KafkaSource:
    """The same interface over a confluent-kafka Consumer (Rasa's Kafka broker's topic).

    Offsets are committed only after a batch is applied (enable.auto.commit is
    off), so a crash replays the uncommitted tail; the worker's event-id
    deduplication makes the replay harmless. The blocking client runs in a
    thread so the event loop stays free.
    """

    def __init__(self, consumer) -> None:
        self.consumer = consumer
        self._pending: dict[str, Any] = {}

    @classmethod
    def create(cls, bootstrap_servers: str, topic: str, group: str = "features") -> KafkaSource:
        from confluent_kafka import Consumer

        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap_servers,
                "group.id": group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        consumer.subscribe([topic])
        return cls(consumer)

    async def read(self, count: int, block_ms: int) -> list[Entry]:
        messages = await asyncio.to_thread(self.consumer.consume, count, block_ms / 1000)
        out: list[Entry] = []
        for message in messages or []:
            if message.error():
                logger.warning("kafka error: %s", message.error())
                continue
            eid = f"{message.topic()}:{message.partition()}:{message.offset()}"
            self._pending[eid] = message
            out.append((eid, decode(message.value())))
        return out

    async def ack(self, event_ids: list[str]) -> None:
        messages = [self._pending.pop(eid) for eid in event_ids if eid in self._pending]
        for message in messages:
            await asyncio.to_thread(self.consumer.commit, message=message, asynchronous=False)
