"""Rasa event broker that appends every tracker event to a Redis stream.

Configured in endpoints.yml (no extra server; the feature worker consumes it):

    event_broker:
      type: rasa_ext.broker.RedisStreamBroker
      url: 127.0.0.1
      port: 6390
      stream: pz:events

Rasa calls `publish` synchronously inside the turn, so writes use a blocking client with a
tight timeout (an XADD costs about 0.1 ms on loopback). What the stream keeps:

- Only what consent allows: an event of a shopper who has not granted personalization
  (privacy/consent.py) is reduced to its type, sender, time and action name; their words,
  entities and metadata stay in the conversation store only.
- Only the retention period (PZ_RETENTION_DAYS): every write trims entries older than it
  (XADD MINID), and the length stays bounded (XTRIM MAXLEN).
- Nothing is lost to a Redis outage: while Redis is unreachable events wait in memory, in
  order (up to BUFFER_MAX; beyond that they are counted and logged as lost), and go out
  with the first write after Redis is back. The conversation store is the record either way.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, Gauge
from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig

from core.breaker import Breaker
from core.redis_keys import UserKeys
from core.settings import Settings
from privacy.consent import GRANTED
from rasa_ext.stores import LOCK_SOCKET_TIMEOUT_S, _configured_pseudonym_key, resilient_client
from realtime.stream import DEFAULT_MAXLEN, DEFAULT_STREAM, encode

logger = logging.getLogger(__name__)

BUFFER_MAX = 100_000
KEPT_WITHOUT_CONSENT = ("event", "sender_id", "timestamp", "name")


class RedisStreamBroker(EventBroker):
    def __init__(
        self,
        client: redis.Redis,
        stream: str = DEFAULT_STREAM,
        maxlen: int = DEFAULT_MAXLEN,
        keys: UserKeys | None = None,
        retention_s: int = 0,
    ) -> None:
        self.client = client
        self.stream = stream
        self.maxlen = maxlen
        self.keys = keys or UserKeys("pz")
        self.retention_s = retention_s
        self.buffer: deque[dict[str, Any]] = deque()
        self.breaker = Breaker()
        self.metrics = CollectorRegistry(auto_describe=True)
        self.lost = Counter(
            "pz_broker_lost_events_total",
            "events that never reached the stream (unencodable, or the buffer was full)",
            registry=self.metrics,
        )
        self.redacted = Counter(
            "pz_broker_redacted_events_total",
            "events streamed without their content: no consent to personalization",
            registry=self.metrics,
        )
        self.written = Counter(
            "pz_broker_streamed_events_total", "events written to the stream", registry=self.metrics
        )
        Gauge(
            "pz_broker_buffered_events", "events waiting for Redis", registry=self.metrics
        ).set_function(lambda: len(self.buffer))

    @property
    def failures(self) -> int:
        return int(self.metrics.get_sample_value("pz_broker_lost_events_total") or 0)

    @classmethod
    async def from_endpoint_config(
        cls, broker_config: EndpointConfig, event_loop: Any = None
    ) -> RedisStreamBroker:
        kwargs = broker_config.kwargs
        settings = Settings.from_env()
        # One quick try per write: an unreachable Redis sends events to the buffer.
        client = resilient_client(
            broker_config.url,
            kwargs.get("port", 6379),
            kwargs.get("db", 0),
            kwargs.get("username"),
            kwargs.get("password"),
            float(kwargs.get("socket_timeout", LOCK_SOCKET_TIMEOUT_S)),
            retries=1,
            retry_timeouts=False,
        )
        prefix = kwargs.get("key_prefix", settings.redis.namespace)
        return cls(
            client,
            kwargs.get("stream", DEFAULT_STREAM),
            int(kwargs.get("maxlen", DEFAULT_MAXLEN)),
            UserKeys(prefix, _configured_pseudonym_key(settings)),
            settings.privacy.retention_seconds,
        )

    def publish(self, event: dict[str, Any]) -> None:
        self.publish_many([event])

    def publish_many(self, events: list[dict[str, Any]]) -> None:
        """All of a turn's events in two round trips (Rasa publishes them one by one)."""
        self.buffer.extend(events)
        overflow = len(self.buffer) - BUFFER_MAX
        if overflow > 0:
            for _ in range(overflow):
                self._lost(self.buffer.popleft(), "the buffer is full")
        if not self.breaker.allows():
            return
        pending = list(self.buffer)
        try:
            self._write(pending)
        except redis.RedisError as exc:
            self.breaker.trip()
            logger.warning("event stream unreachable (%s); %d event(s) buffered", exc, len(pending))
            return
        for _ in pending:
            self.buffer.popleft()

    def _write(self, events: list[dict[str, Any]]) -> None:
        senders = sorted({str(e.get("sender_id")) for e in events})
        with self.client.pipeline(transaction=False) as pipe:
            for sender in senders:
                pipe.hget(self.keys.consent(sender), "status")
            consented = {
                s for s, v in zip(senders, pipe.execute(), strict=True) if _text(v) == GRANTED
            }
        entries = []
        for event in events:
            if str(event.get("sender_id")) not in consented:
                event = {k: event[k] for k in KEPT_WITHOUT_CONSENT if k in event}
                self.redacted.inc()
            try:
                entries.append(encode(event))
            except (TypeError, ValueError) as exc:
                self._lost(event, exc)
        minid = int((time.time() - self.retention_s) * 1000) if self.retention_s else None
        with self.client.pipeline(transaction=False) as pipe:
            for entry in entries:
                if minid is None:
                    pipe.xadd(self.stream, entry)
                else:
                    pipe.xadd(self.stream, entry, minid=minid, approximate=False)
            pipe.xtrim(self.stream, maxlen=self.maxlen, approximate=True)
            pipe.execute()
        self.written.inc(len(entries))

    def _lost(self, event: dict[str, Any], why: Any) -> None:
        self.lost.inc()
        sender = str(event.get("sender_id"))[:64]
        logger.warning("an event for sender %r was not streamed (%s)", sender, why)

    def is_ready(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    async def close(self) -> None:
        if self.buffer:
            self.publish_many([])
        self.client.close()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
