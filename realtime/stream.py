"""The event stream: Rasa's tracker events and CRM purchases and add-to-carts, in one Redis
stream.

Entries have one field, `event`: the JSON of a Rasa event as an event broker
sends it (with `sender_id`), or one of the shop's (timestamps in unix seconds):
    {"event": "purchase", "sender_id": ..., "timestamp": ..., "amount": ...,
     "category": ..., "order_id": ...}
    {"event": "add_to_cart", "sender_id": ..., "timestamp": ..., "product": ...,
     "category": ..., "quantity": ...}
The stream entry id is the event id the feature worker deduplicates on.
"""

from __future__ import annotations

import json
import time
from typing import Any

DEFAULT_STREAM = "pz:events"
DEFAULT_MAXLEN = 1_000_000  # approximate trimming keeps memory bounded
MAX_QUANTITY = 10_000  # items in one add-to-cart (the gateway refuses more; the worker caps)


def purchase_event(
    user_id: str,
    amount: float,
    category: str = "",
    timestamp: float | None = None,
    order_id: str = "",
) -> dict[str, Any]:
    return {
        "event": "purchase",
        "sender_id": user_id,
        "timestamp": time.time() if timestamp is None else float(timestamp),
        "amount": float(amount),
        "category": category,
        "order_id": order_id,
    }


def cart_event(
    user_id: str,
    product: str = "",
    category: str = "",
    quantity: int = 1,
    timestamp: float | None = None,
) -> dict[str, Any]:
    return {
        "event": "add_to_cart",
        "sender_id": user_id,
        "timestamp": time.time() if timestamp is None else float(timestamp),
        "product": product,
        "category": category,
        "quantity": int(quantity),
    }


def encode(event: dict[str, Any]) -> dict[str, str]:
    return {"event": json.dumps(event, separators=(",", ":"))}


async def publish_event(
    client, event: dict[str, Any], stream: str = DEFAULT_STREAM, maxlen: int = DEFAULT_MAXLEN
) -> str:
    """XADD one event (redis.asyncio client); returns its stream entry id."""
    entry_id = await client.xadd(stream, encode(event), maxlen=maxlen, approximate=True)
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


class RedisStreamSink:
    """The gateway's ingest onto the Redis stream (realtime/kafka.py KafkaSink: onto Kafka)."""

    def __init__(self, client, stream: str = DEFAULT_STREAM) -> None:
        self.client, self.stream = client, stream

    async def publish(self, event: dict[str, Any]) -> str:
        return await publish_event(self.client, event, self.stream)

    def close(self) -> None:
        """The client belongs to the caller."""
