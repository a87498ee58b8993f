"""The cart and order stores of one action server, built once from its profile store's
Redis clients (the user's keys stay in the user's slot; the stream on the shared Redis)."""

from __future__ import annotations

from dataclasses import dataclass

from personalization.store import ProfileStore
from shop.carts import CartStore
from shop.orders import OrderStore


@dataclass(frozen=True)
class ShopStores:
    carts: CartStore
    orders: OrderStore

    @classmethod
    def beside(cls, store: ProfileStore) -> ShopStores:
        carts = CartStore(store.client, store.keys, store.timeout)
        return cls(carts, OrderStore(carts, store.shared_client, f"{store.namespace}:events"))
