"""Back-in-stock requests: the products a shopper asked to hear about, in a hash of their
own (product id -> unix time asked), so export shows them and erasure removes them with the
rest of the user's keys. Stored only with consent (the action checks)."""

from __future__ import annotations

from shop.carts import CartStore, as_text

MAX_REQUESTS = 50  # products one shopper may wait for


async def request_notification(carts: CartStore, user_id: str, product_id: str, now: float) -> bool:
    """Record the request; False when the shopper already waits for MAX_REQUESTS others."""
    key = carts.keys.notify(user_id)
    waiting = await carts.call(carts.client.hkeys(key))
    names = {as_text(w) for w in waiting}
    if product_id not in names and len(names) >= MAX_REQUESTS:
        return False
    await carts.call(carts.client.hset(key, product_id, round(now, 3)))
    return True
