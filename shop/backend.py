"""The cart and order stores of one action server, built once from its profile store's
Redis clients (the user's keys stay in the user's slot; the stream on the shared Redis)."""

from __future__ import annotations

from dataclasses import dataclass

from core.settings import StreamSettings
from personalization.store import ProfileStore
from realtime.kafka import event_sink
from shop.carts import CartStore
from shop.orders import OrderStore


@dataclass(frozen=True)
class ShopStores:
    carts: CartStore
    orders: OrderStore

    @classmethod
    def beside(cls, store: ProfileStore, stream: StreamSettings | None = None) -> ShopStores:
        """Cart and order events go where the feature workers read (PZ_EVENT_TRANSPORT)."""
        carts = CartStore(store.client, store.keys, store.timeout)
        events = event_sink(
            stream or StreamSettings(), store.shared_client, f"{store.namespace}:events", False
        )
        return cls(carts, OrderStore(carts, events))
