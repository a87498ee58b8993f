"""Orders: a checkout turns the cart into an order in one Lua script (so two checkouts of
the same cart, even at once, place one order), then publishes the purchase onto the event
stream the CRM ingest uses (realtime/stream.py), so the feature worker counts it like any
purchase: segment, facts and experiment conversions.

There is no warehouse here: an order's status follows from its age (packed within two
hours, delivered after three days), stated as such in the README.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from core.products import ProductCatalogue
from realtime.kafka import KafkaUnavailable
from realtime.stream import purchase_event
from shop.carts import Cart, CartStore, ShopUnavailable, as_text

logger = logging.getLogger(__name__)

ORDER_ID = re.compile(r"VM-[0-9A-F]{8}")
PACKED_S = 2 * 3600
DELIVERY_S = 3 * 86400
MAX_ORDERS_SHOWN = 5

# KEYS: cart, order index, order records. ARGV: the revision the lines were read at, the
# new order id, placed_at, the record. Returns {outcome, order id}.
CHECKOUT_SCRIPT = """
local ordered = redis.call('HGET', KEYS[1], 'ordered')
local rev = redis.call('HGET', KEYS[1], 'rev') or '0'
if rev ~= ARGV[1] then
  if ordered then return {'again', ordered} end
  return {'changed', ''}
end
local items = {}
for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(name, 1, 2) == 'i:' then table.insert(items, name) end
end
if #items == 0 then
  if ordered then return {'again', ordered} end
  return {'empty', ''}
end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
redis.call('HDEL', KEYS[1], unpack(items))
redis.call('HSET', KEYS[1], 'ordered', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'rev', 1)
return {'placed', ARGV[2]}
"""


@dataclass(frozen=True)
class Line:
    product_id: str
    name: str
    quantity: int
    price: float  # euros per unit at checkout

    @property
    def total(self) -> float:
        return self.price * self.quantity


@dataclass(frozen=True)
class PlacedOrder:
    id: str
    placed_at: float
    lines: tuple[Line, ...]
    total: float

    def status(self, now: float) -> str:
        age = now - self.placed_at
        if age < PACKED_S:
            return "being packed"
        return "on its way" if age < DELIVERY_S else "delivered"

    @property
    def eta(self) -> str:
        day = datetime.fromtimestamp(self.placed_at + DELIVERY_S, UTC)
        return day.strftime("%A %-d %B")

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)

    def record(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "placed_at": self.placed_at,
                "total": self.total,
                "lines": [line.__dict__ for line in self.lines],
            },
            separators=(",", ":"),
        )


def parse_order(raw: object) -> PlacedOrder | None:
    """An order from its stored JSON; None when unreadable (logged, not raised)."""
    try:
        data = json.loads(raw)
        lines = tuple(Line(**line) for line in data["lines"])
        return PlacedOrder(str(data["id"]), float(data["placed_at"]), lines, float(data["total"]))
    except (TypeError, ValueError, KeyError) as exc:
        logger.warning("unreadable order record skipped: %s", exc)
        return None


def new_order_id() -> str:
    return f"VM-{secrets.token_hex(4).upper()}"


def priced_lines(cart: Cart, catalogue: ProductCatalogue) -> list[Line]:
    """The cart's lines at today's prices; products the catalogue no longer has are left
    out (they stay in the cart, and a cart of only those checks out as empty)."""
    lines = []
    for product_id, quantity in cart.items.items():
        product = catalogue.find(product_id)
        if product is not None:
            price = product.deal_price if product.on_deal else product.price
            lines.append(Line(product.id, product.name, quantity, price))
    return lines


def lines_total(lines: list[Line]) -> float:
    """What the lines cost together, in euros to the cent (a cart's total, an order's)."""
    return round(sum(line.total for line in lines), 2)


@dataclass(frozen=True)
class Checkout:
    outcome: str  # placed | again | empty | changed
    order: PlacedOrder | None = None
    order_id: str = ""


class OrderStore:
    def __init__(self, carts: CartStore, events) -> None:
        self.carts = carts
        self.keys = carts.keys
        self.events = events  # RedisStreamSink or KafkaSink (realtime/kafka.py event_sink)
        self._checkout = carts.client.register_script(CHECKOUT_SCRIPT)

    async def checkout(
        self, owner: str, user_id: str, catalogue: ProductCatalogue, now: float
    ) -> Checkout:
        cart = await self.carts.get(owner)
        lines = priced_lines(cart, catalogue)
        if not lines and cart.items:  # only products the catalogue dropped
            return Checkout("empty")
        order = PlacedOrder(
            new_order_id(),
            now,
            tuple(lines),
            lines_total(lines),
        )
        keys = [self.keys.cart(owner), self.keys.orders(owner), self.keys.order_records(owner)]
        args = [cart.rev, order.id, now, order.record()]
        outcome, order_id = await self.carts.call(self._checkout(keys=keys, args=args))
        outcome, order_id = as_text(outcome), as_text(order_id)
        if outcome != "placed":
            return Checkout(
                outcome, await self.find(owner, order_id) if order_id else None, order_id
            )
        await self._publish(user_id, order, catalogue)
        return Checkout("placed", order, order.id)

    async def _publish(self, user_id: str, order: PlacedOrder, catalogue: ProductCatalogue) -> None:
        """The order as a purchase event; the order stands if the stream is down (logged)."""
        top = max(order.lines, key=lambda line: line.total)
        product = catalogue.find(top.product_id)
        event = purchase_event(
            user_id, order.total, product.category if product else "", order.placed_at, order.id
        )
        try:
            await self.publish(event)
        except ShopUnavailable as exc:  # the order is placed; a missing event is logged
            logger.error(
                "order %s placed but its purchase event was not published: %s", order.id, exc
            )

    async def publish(self, event: dict) -> None:
        """A shop event onto the event stream; ShopUnavailable when it cannot take it."""
        try:
            await self.carts.call(self.events.publish(event))
        except KafkaUnavailable as exc:
            raise ShopUnavailable(str(exc)) from exc

    async def find(self, owner: str, order_id: str) -> PlacedOrder | None:
        """The owner's order with this id; None for anyone else's (same answer as none)."""
        key = self.keys.order_records(owner)
        raw = await self.carts.call(self.carts.client.hget(key, order_id))
        return parse_order(raw) if raw is not None else None

    async def latest(self, owner: str, count: int = MAX_ORDERS_SHOWN) -> list[PlacedOrder]:
        client = self.carts.client
        ids = await self.carts.call(client.zrevrange(self.keys.orders(owner), 0, count - 1))
        if not ids:
            return []
        raws = await self.carts.call(client.hmget(self.keys.order_records(owner), ids))
        return [o for o in (parse_order(r) for r in raws if r is not None) if o is not None]
