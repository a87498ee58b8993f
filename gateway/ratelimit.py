"""Sliding-window rate limits kept in Redis, so every gateway process shares the same counts.

One Lua call per check: drop timestamps older than the window from a sorted set, count
the rest, and record this request only if it is under the limit (refused requests do not
extend the wait). Redis' own clock is used, so gateways with skewed clocks still agree.
Keys: ``<namespace>:rl:<scope>:<id>``, expiring one window after the last accepted request.
If Redis is down or slow the check fails open: chat must keep working.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from dataclasses import dataclass

from redis.exceptions import RedisError

from core.breaker import Breaker
from core.settings import DEFAULT_NAMESPACE
from gateway.config import RateLimit

logger = logging.getLogger(__name__)

# KEYS[1] the window's sorted set; ARGV: limit, window (ms), unique member. Milliseconds keep
# scores exact when Lua formats numbers (14 significant digits).
# Returns {allowed (1/0), remaining, milliseconds until the oldest entry leaves the window}.
SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, limit - count - 1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, 0, tonumber(oldest[2]) + window - now}
"""

WARN_EVERY_S = 30.0


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    remaining: int
    retry_after: int  # whole seconds, >= 1 when refused
    failed_open: bool = False


def rate_key(namespace: str, scope: str, ident: str) -> str:
    return f"{namespace}:rl:{scope}:{ident}"


class RateLimiter:
    """Checks ``limit`` per ``window`` for (scope, id) pairs against a shared Redis."""

    def __init__(self, client, namespace: str = DEFAULT_NAMESPACE, timeout: float = 0.25) -> None:
        self.namespace = namespace
        self.timeout = timeout
        self._script = client.register_script(SLIDING_WINDOW)
        self._last_warning = -math.inf
        # A Redis that just failed is not asked for a second: a hung one would otherwise
        # add its timeout to every request (two checks per chat message).
        self.breaker = Breaker()

    async def hit(self, scope: str, ident: str, rule: RateLimit) -> RateDecision:
        """Count one request; never raises for Redis trouble (fails open, logs a warning)."""
        # Token subjects from other issuers may hold lone surrogates; keep them as bytes.
        key = rate_key(self.namespace, scope, ident).encode("utf-8", "surrogatepass")
        window_ms = max(1, math.ceil(rule.window * 1000))
        if not self.breaker.allows():
            return RateDecision(True, rule.limit, 0, failed_open=True)
        try:
            async with asyncio.timeout(self.timeout):
                allowed, remaining, wait_ms = await self._script(
                    keys=[key], args=[rule.limit, window_ms, secrets.token_hex(8)]
                )
        except (RedisError, OSError, TimeoutError) as exc:
            self.breaker.trip()
            self._warn(exc)
            return RateDecision(True, rule.limit, 0, failed_open=True)
        if allowed:
            return RateDecision(True, int(remaining), 0)
        return RateDecision(False, 0, max(1, math.ceil(int(wait_ms) / 1000)))

    def _warn(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_S:  # one line per 30 s, not one per request
            self._last_warning = now
            logger.warning(
                "rate limiting is off: Redis did not answer (%s); check PZ_REDIS_URL",
                type(exc).__name__,
            )
