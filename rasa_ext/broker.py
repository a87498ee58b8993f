"""Rasa event broker that appends every tracker event to a Redis stream.

Configured in endpoints.yml (no extra server; the feature worker consumes it):

    event_broker:
      type: rasa_ext.broker.RedisStreamBroker
      url: 127.0.0.1
      port: 6390
      stream: pz:events

Rasa calls `publish` synchronously inside the turn, so writes use a blocking
client with a tight timeout (an XADD costs about 0.1 ms on loopback). If Redis
cannot take the event the turn goes on and the loss is logged and counted:
the same Redis holds the tracker, so the conversation itself is the record.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import EndpointConfig

from rasa_ext.stores import resilient_client
from realtime.stream import DEFAULT_MAXLEN, DEFAULT_STREAM, encode

logger = logging.getLogger(__name__)


class RedisStreamBroker(EventBroker):
    def __init__(
        self,
        client: redis.Redis,
        stream: str = DEFAULT_STREAM,
        maxlen: int = DEFAULT_MAXLEN,
    ) -> None:
        self.client = client
        self.stream = stream
        self.maxlen = maxlen
        self.failures = 0

    @classmethod
    async def from_endpoint_config(
        cls, broker_config: EndpointConfig, event_loop: Any = None
    ) -> RedisStreamBroker:
        kwargs = broker_config.kwargs
        # Retries a connection a Redis restart killed, so no event is lost to a stale socket.
        client = resilient_client(
            broker_config.url,
            kwargs.get("port", 6379),
            kwargs.get("db", 0),
            kwargs.get("username"),
            kwargs.get("password"),
            float(kwargs.get("socket_timeout", 0.5)),
        )
        return cls(
            client, kwargs.get("stream", DEFAULT_STREAM), int(kwargs.get("maxlen", DEFAULT_MAXLEN))
        )

    def publish(self, event: dict[str, Any]) -> None:
        self.publish_many([event])

    def publish_many(self, events: list[dict[str, Any]]) -> None:
        """All of a turn's events in one round trip (Rasa publishes them one by one)."""
        fields = []
        for event in events:
            try:
                fields.append(encode(event))
            except (TypeError, ValueError) as exc:
                self._lost(1, event, exc)
        if not fields:
            return
        try:
            with self.client.pipeline(transaction=False) as pipe:
                for entry in fields:
                    pipe.xadd(self.stream, entry, maxlen=self.maxlen, approximate=True)
                pipe.execute()
        except redis.RedisError as exc:
            self._lost(len(fields), events[0], exc)

    def _lost(self, count: int, event: dict[str, Any], exc: Exception) -> None:
        self.failures += count
        sender = str(event.get("sender_id"))[:64]
        logger.warning("%d event(s) for sender %r not streamed (%s)", count, sender, exc)

    def is_ready(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    async def close(self) -> None:
        self.client.close()
