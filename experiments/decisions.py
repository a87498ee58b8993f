"""Decisions, feedback and shared bandit state in Redis.

Every answer the bandit or an experiment shaped is a decision, logged with the
probability it was chosen with (for offline evaluation) and kept for 30 days
so feedback can find it:

    <ns>:decisions                       stream  id user persona response variant arm policy
                                                 propensity arms experiments ts
    <ns>:dec:<id>                        hash    the same, then rating reason reward rated_at
    <ns>:feedback                        stream  decision user persona response variant arm
                                                 experiments rating reason ts
    <ns>:bandit:<variant>:<persona>      hash    <arm>:s, <arm>:f   (successes, failures)
    <ns>:bandit:unknown_rewards          counter feedback naming no decision of that user
    <ns>:dec:by:<digest>                 zset    the user's latest decision ids by time
    <ns>:dec:by:<digest>:seen            hash    stream entry id -> the decision it rewarded

A decision is rewarded once, atomically with the bandit update (Lua), so two
action-server processes, a double click or a replayed request cannot count it
twice. The script builds the bandit key from the decision it reads, which is
fine on one Redis server (Redis Cluster would need a hash tag). The per-user index
lets a purchase find the decision before it; it is named by a digest of the user id
(like the erasure marker), so the key itself is no trace of the user; core/redis_keys.py
names it, and erasure (privacy/erasure.py) deletes it with the `:seen` hash.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
from redis.exceptions import RedisError

from core.redis_keys import decision_index_key, decision_seen_key

logger = logging.getLogger(__name__)

DECISION_TTL_S = 30 * 24 * 3600
STREAM_MAXLEN = 200_000
WRITE_QUEUE_MAX = 10_000  # decisions waiting to be written before new ones are dropped
WRITE_TIMEOUT_S = 2.0
RATINGS = ("up", "down")
REASONS = ("too_expensive", "not_relevant", "want_more_detail", "other")
INDEX_SIZE = 20  # latest decisions kept per user for attribution
SEEN_TTL_S = 7 * 24 * 3600  # how long an attributed stream entry is remembered

# ARGV: stream length, ttl, index size, decision id, ts, then the decision's fields.
RECORD_SCRIPT = """
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 6))
redis.call('HSET', KEYS[2], unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[4])
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -1 - tonumber(ARGV[3]))
redis.call('EXPIRE', KEYS[3], ARGV[2])
return 1
"""

FEEDBACK_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('INCR', KEYS[3]); return {'unknown'}
end
local d = redis.call('HMGET', KEYS[1], 'user', 'persona', 'response', 'variant', 'arm',
                     'experiments')
if d[1] ~= ARGV[1] then redis.call('INCR', KEYS[3]); return {'unknown'} end
local status = 'rated'
if redis.call('HSETNX', KEYS[1], 'rating', ARGV[2]) == 1 then
  local reward = ARGV[2] == 'up' and 1 or 0
  redis.call('HSET', KEYS[1], 'rated_at', ARGV[4])
  if redis.call('HSETNX', KEYS[1], 'reward', reward) == 1 then  -- unless a conversion was first
    local suffix = reward == 1 and ':s' or ':f'
    redis.call('HINCRBYFLOAT', ARGV[5] .. ':bandit:' .. d[4] .. ':' .. d[2], d[5] .. suffix, 1)
  end
elseif ARGV[3] ~= '' then
  status = 'reason'
else
  return {'duplicate', d[6] or '{}'}
end
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'reason', ARGV[3]) end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'decision', ARGV[7], 'user', d[1],
           'persona', d[2], 'response', d[3], 'variant', d[4], 'arm', d[5],
           'experiments', d[6] or '{}', 'rating', redis.call('HGET', KEYS[1], 'rating'),
           'reason', ARGV[3], 'ts', ARGV[4])
return {status, d[6] or '{}'}
"""


# A conversion right after a decision (e.g. yes to the deals offer) rewards it, once.
# Both conversion paths (a chat intent, a purchase or add-to-cart) reward a decision the same
# way: once (unless feedback was first), with the time, as a bandit success of its arm.
# `d` is the decision's user, persona, variant, arm; `conversion` is false or its name.
REWARD_ONCE_LUA = """
local function reward_once(key, d, at, ns, conversion)
  if redis.call('HSETNX', key, 'reward', 1) == 0 then return 0 end
  redis.call('HSET', key, 'converted_at', at)
  if conversion then redis.call('HSET', key, 'conversion', conversion) end
  redis.call('HINCRBYFLOAT', ns .. ':bandit:' .. d[3] .. ':' .. d[2], d[4] .. ':s', 1)
  return 1
end
"""

CONVERSION_SCRIPT = (
    REWARD_ONCE_LUA
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('INCR', KEYS[2]); return 0 end
local d = redis.call('HMGET', KEYS[1], 'user', 'persona', 'variant', 'arm')
if d[1] ~= ARGV[1] then redis.call('INCR', KEYS[2]); return 0 end
return reward_once(KEYS[1], d, ARGV[2], ARGV[3], false)
"""
)


# A purchase or add-to-cart rewards the user's latest decision in [ARGV[3], ARGV[2]] (event
# time minus the window, event time), once per decision and once per stream entry: a
# replayed entry (ARGV[5]) gets its first answer back. KEYS: the user's index, seen hash.
# ARGV: user, event time, window start, namespace, entry id, conversion, seen ttl.
ATTRIBUTE_SCRIPT = (
    REWARD_ONCE_LUA
    + """
local seen = redis.call('HGET', KEYS[2], ARGV[5])
if seen then return {'replayed', seen} end
local found = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[2], ARGV[3], 'LIMIT', 0, 1)
local status, id = 'unattributed', ''
if #found == 1 then
  local key = ARGV[4] .. ':dec:' .. found[1]
  local d = redis.call('HMGET', key, 'user', 'persona', 'variant', 'arm')
  if d[1] == ARGV[1] then
    id = found[1]
    status = 'already_rewarded'
    if reward_once(key, d, ARGV[2], ARGV[4], ARGV[6]) == 1 then status = 'rewarded' end
  end
end
redis.call('HSET', KEYS[2], ARGV[5], id)
redis.call('EXPIRE', KEYS[2], ARGV[7])
return {status, id}
"""
)


@dataclass(frozen=True)
class Attribution:
    """What a purchase or add-to-cart did to the decision before it."""

    # "rewarded"; "already_rewarded" (feedback or an earlier conversion was first);
    # "unattributed" (no decision of the user in the window); "replayed" (entry seen before)
    status: str
    decision: str = ""  # the decision's id; "" when there was none


@dataclass(frozen=True)
class Decision:
    user: str
    persona: str
    response: str
    variant: str
    arm: str
    policy: str  # "bandit", "experiment" or "fixed"
    propensity: float
    arms: tuple[str, ...]
    experiments: dict[str, str] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])

    def fields(self) -> dict[str, str]:
        return {
            "id": self.id,
            "user": self.user,
            "persona": self.persona,
            "response": self.response,
            "variant": self.variant,
            "arm": self.arm,
            "policy": self.policy,
            "propensity": f"{self.propensity:.6f}",
            "arms": ",".join(self.arms),
            "experiments": json.dumps(self.experiments, sort_keys=True),
            "ts": f"{self.ts:.3f}",
        }


@dataclass(frozen=True)
class FeedbackOutcome:
    status: str  # "rated", "reason" (reason added to a rated decision), "duplicate", "unknown"
    experiments: dict[str, str] = field(default_factory=dict)


def bandit_key(namespace: str, variant: str, persona: str) -> str:
    return f"{namespace}:bandit:{variant}:{persona}"


class DecisionStore:
    def __init__(self, client, namespace: str = "pz", ttl_s: int = DECISION_TTL_S) -> None:
        self.client, self.namespace, self.ttl_s = client, namespace, ttl_s
        self._feedback = client.register_script(FEEDBACK_SCRIPT)
        self._record = client.register_script(RECORD_SCRIPT)
        self._convert = client.register_script(CONVERSION_SCRIPT)
        self._attribute = client.register_script(ATTRIBUTE_SCRIPT)
        self._queue: asyncio.Queue[Decision] | None = None
        self._writer: asyncio.Task | None = None

    def key(self, decision_id: str) -> str:
        return f"{self.namespace}:dec:{decision_id}"

    def index_key(self, user: str) -> str:
        """The user's latest decisions (a digest names it, not the id)."""
        return decision_index_key(self.namespace, user)

    def _record_call(self, decision: Decision) -> tuple[list[str], list]:
        keys = [f"{self.namespace}:decisions", self.key(decision.id), self.index_key(decision.user)]
        flat = [x for item in decision.fields().items() for x in item]
        ts = f"{decision.ts:.3f}"
        return keys, [STREAM_MAXLEN, self.ttl_s, INDEX_SIZE, decision.id, ts, *flat]

    async def bandit_state(
        self, variant: str, persona: str, arms: tuple[str, ...]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(successes, failures) per arm, shared by every process."""
        raw = await self.client.hgetall(bandit_key(self.namespace, variant, persona))
        counts = {k.decode(): float(v) for k, v in raw.items()}
        successes = np.array([counts.get(f"{arm}:s", 0.0) for arm in arms])
        failures = np.array([counts.get(f"{arm}:f", 0.0) for arm in arms])
        return successes, failures

    async def record(self, decision: Decision) -> None:
        """Log the decision (stream), keep it for feedback (hash) and index it under its
        user for attribution, in one round trip."""
        keys, args = self._record_call(decision)
        await self._record(keys=keys, args=args)

    def record_soon(self, decision: Decision) -> None:
        """Queue the write so the answer does not wait for it (a round trip is ~0.2 ms here).

        One writer task per process drains the queue in batches (one pipeline per
        batch), so a burst of turns never needs a connection per decision. Feedback
        comes with a later message, long after the write; a decision that could not
        be written is logged in full, and feedback naming it counts as unknown.
        """
        if self._queue is None:
            self._queue = asyncio.Queue(WRITE_QUEUE_MAX)
        try:
            self._queue.put_nowait(decision)
        except asyncio.QueueFull:
            logger.warning("decision log queue full; not logged: %s", decision.fields())
            return
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._queue is not None and not self._queue.empty():
            batch = [self._queue.get_nowait() for _ in range(min(self._queue.qsize(), 256))]
            try:
                async with asyncio.timeout(WRITE_TIMEOUT_S):
                    async with self.client.pipeline(transaction=False) as pipe:
                        for decision in batch:
                            keys, args = self._record_call(decision)
                            await self._record(keys=keys, args=args, client=pipe)
                        await pipe.execute()
            except (TimeoutError, RedisError, OSError) as exc:
                for decision in batch:
                    logger.warning(
                        "decision not logged (%s): %s", type(exc).__name__, decision.fields()
                    )

    async def flush(self) -> None:
        """Wait until queued decisions are written (tests, shutdown)."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def convert(self, decision_id: str, user: str) -> bool:
        """Reward a decision with a conversion (reward 1) unless it was rewarded already."""
        if not decision_id or len(decision_id) > 64 or not decision_id.isalnum():
            return False
        keys = [self.key(decision_id), f"{self.namespace}:bandit:unknown_rewards"]
        return bool(
            await self._convert(keys=keys, args=[user, f"{time.time():.3f}", self.namespace])
        )

    async def attribute(
        self, user: str, conversion: str, at: float, window_s: float, event_id: str
    ) -> Attribution:
        """Reward the user's latest decision within `window_s` before `at` with a conversion
        (reward 1, once per decision); the same `event_id` again changes nothing."""
        keys = [self.index_key(user), decision_seen_key(self.namespace, user)]
        args = [user, f"{at:.3f}", f"{at - window_s:.3f}", self.namespace, event_id]
        status, decision = await self._attribute(keys=keys, args=[*args, conversion, SEEN_TTL_S])
        return Attribution(status.decode(), decision.decode())

    async def feedback(
        self, decision_id: str, user: str, rating: str, reason: str | None = None
    ) -> FeedbackOutcome:
        """Reward a decision once; a later message may add the reason. Never trusts the ids."""
        if rating not in RATINGS:
            raise ValueError(f"rating must be one of {', '.join(RATINGS)}, got {rating!r}")
        reason = reason if reason in REASONS else ""
        if not decision_id or len(decision_id) > 64 or not decision_id.isalnum():
            await self.client.incr(f"{self.namespace}:bandit:unknown_rewards")
            return FeedbackOutcome("unknown")
        reply = await self._feedback(
            keys=[
                self.key(decision_id),
                f"{self.namespace}:feedback",
                f"{self.namespace}:bandit:unknown_rewards",
            ],
            args=[
                user,
                rating,
                reason,
                f"{time.time():.3f}",
                self.namespace,
                STREAM_MAXLEN,
                decision_id,
            ],
        )
        status = reply[0].decode()
        experiments = {}
        if len(reply) > 1:
            try:
                experiments = json.loads(reply[1])
            except ValueError:
                experiments = {}
        return FeedbackOutcome(status, experiments if isinstance(experiments, dict) else {})
