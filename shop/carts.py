"""Shopping carts in Redis: one hash per owner (core/redis_keys.py), changed only by Lua
scripts, so a line limit, a quantity cap and the revision a checkout relies on hold under
concurrent turns.

Fields: ``i:<product id>`` -> quantity, ``rev`` -> changes so far, and ``ordered`` -> the
order the cart's items became (kept until the cart changes, so a second checkout of the same
cart is recognised instead of placed twice).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from core.redis_keys import UserKeys

ITEM = "i:"
MAX_LINES = 20  # different products in one cart
MAX_PER_LINE = 10  # units of one product
CART_TTL_S = 30 * 86400  # an untouched cart is forgotten after 30 days

# Returns the new quantity, or -1 (too many lines) / -2 (over the per-line cap).
ADD_SCRIPT = """
local field = ARGV[1]
local qty = tonumber(ARGV[2])
local current = tonumber(redis.call('HGET', KEYS[1], field) or '0')
if current == 0 then
  local lines = 0
  for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(name, 1, 2) == 'i:' then lines = lines + 1 end
  end
  if lines >= tonumber(ARGV[3]) then return -1 end
end
if current + qty > tonumber(ARGV[4]) then return -2 end
redis.call('HSET', KEYS[1], field, current + qty)
redis.call('HINCRBY', KEYS[1], 'rev', 1)
redis.call('HDEL', KEYS[1], 'ordered')
redis.call('EXPIRE', KEYS[1], ARGV[5])
return current + qty
"""


class ShopUnavailable(RuntimeError):
    """Redis did not answer in time: nothing was changed, the turn says so."""


@dataclass(frozen=True)
class Cart:
    items: dict[str, int] = field(default_factory=dict)  # product id -> quantity, as added
    rev: str = "0"
    ordered: str | None = None  # the order these items became, if the cart is unchanged since

    @property
    def units(self) -> int:
        return sum(self.items.values())


def parse_cart(raw: dict) -> Cart:
    """A cart from HGETALL (bytes or str); unreadable quantities are left out."""
    text = {as_text(k): as_text(v) for k, v in raw.items()}
    items = {}
    for name, value in text.items():
        if name.startswith(ITEM) and value.isdigit() and int(value) > 0:
            items[name[len(ITEM) :]] = int(value)
    return Cart(items, text.get("rev", "0"), text.get("ordered") or None)


def as_text(value: object) -> str:
    """A Redis reply (bytes without decode_responses) as text."""
    return value.decode() if isinstance(value, bytes) else str(value)


class CartStore:
    def __init__(self, client, keys: UserKeys, timeout: float) -> None:
        self.client = client
        self.keys = keys
        self.timeout = timeout
        self._add = client.register_script(ADD_SCRIPT)

    async def call(self, coro):
        try:
            async with asyncio.timeout(self.timeout):
                return await coro
        except (TimeoutError, RedisError, OSError) as exc:
            raise ShopUnavailable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc

    async def get(self, owner: str) -> Cart:
        return parse_cart(await self.call(self.client.hgetall(self.keys.cart(owner))))

    async def add(self, owner: str, product_id: str, quantity: int) -> int:
        """The product's new quantity in the cart; -1: the cart has MAX_LINES products
        already, -2: more than MAX_PER_LINE units."""
        args = [ITEM + product_id, quantity, MAX_LINES, MAX_PER_LINE, CART_TTL_S]
        return int(await self.call(self._add(keys=[self.keys.cart(owner)], args=args)))
