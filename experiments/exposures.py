"""Sticky exposures in Redis: the first variant a user saw is the one they keep.

    pz:exp:<key>:u:<user_id>   hash   variant, first_exposure (unix s)
    pz:exp:<key>:exposed       hash   user_id -> variant (index for the report)
    pz:exp:<key>:conv          hash   user_id -> first conversion after exposure (unix s)
    pz:exp:<key>:eng           hash   <variant>:sessions, <variant>:messages (counters)
    pz:exp:<key>:ret           hash   user_id -> first session start within 7 days after
                                      the first exposure (unix s)

Engagement (the report's guardrails, experiments/guardrails.py) is counted by the action
server at bounded cost: the exposure's own session and every later session start of an
exposed user (action_session_start) add a session to the user's variant, each turn a
personalized action answers for an exposed user adds a message, and a session start within
7 days after the first exposure marks the user as returned. The counters hold no user id;
the returns index does, and erasure removes the user from it like from `exposed`.

Weight changes move only users who have not been exposed yet: an exposed
user's recorded variant wins over a fresh assignment.
"""

from __future__ import annotations

import time

from experiments.assignment import assign
from experiments.config import ExperimentSpec

# Record the first exposure only; return what is recorded (the sticky variant).
STICKY_SCRIPT = """
if redis.call('HSETNX', KEYS[1], 'variant', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'first_exposure', ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[3], ARGV[1])
  redis.call('HINCRBY', KEYS[3], ARGV[1] .. ':sessions', 1)  -- the exposure's session
end
return redis.call('HMGET', KEYS[1], 'variant', 'first_exposure')
"""

# A conversion counts once, and only for a user exposed before it happened.
CONVERT_SCRIPT = """
local first = redis.call('HGET', KEYS[1], 'first_exposure')
if not first or tonumber(first) > tonumber(ARGV[2]) then return 0 end
return redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
"""

RETURN_WINDOW_S = 7 * 24 * 3600

# A session start of an exposed user: a session for the recorded variant of each experiment
# (KEYS in threes: the user's exposure, engagement counters, returns index), and a return
# when it comes within the window after the first exposure. ARGV: user, now, window.
SESSION_SCRIPT = """
for i = 1, #KEYS, 3 do
  local d = redis.call('HMGET', KEYS[i], 'variant', 'first_exposure')
  if d[1] then
    redis.call('HINCRBY', KEYS[i + 1], d[1] .. ':sessions', 1)
    local after = tonumber(ARGV[2]) - tonumber(d[2] or ARGV[2])
    if after > 0 and after <= tonumber(ARGV[3]) then
      redis.call('HSETNX', KEYS[i + 2], ARGV[1], ARGV[2])
    end
  end
end
return 1
"""


def exposure_key(namespace: str, experiment_key: str, user_id: str) -> str:
    return f"{namespace}:exp:{experiment_key}:u:{user_id}"


def exposed_key(namespace: str, experiment_key: str) -> str:
    return f"{namespace}:exp:{experiment_key}:exposed"


def conversions_key(namespace: str, experiment_key: str) -> str:
    return f"{namespace}:exp:{experiment_key}:conv"


def engagement_key(namespace: str, experiment_key: str) -> str:
    return f"{namespace}:exp:{experiment_key}:eng"


def returns_key(namespace: str, experiment_key: str) -> str:
    return f"{namespace}:exp:{experiment_key}:ret"


class ExposureStore:
    def __init__(self, client, namespace: str = "pz") -> None:
        self.client, self.namespace = client, namespace
        self._sticky = client.register_script(STICKY_SCRIPT)
        self._convert = client.register_script(CONVERT_SCRIPT)
        self._session = client.register_script(SESSION_SCRIPT)

    async def expose(
        self, spec: ExperimentSpec, user_id: str, persona: str, now: float | None = None
    ) -> tuple[str, float] | None:
        """(variant, first exposure time) for this user, or None when not in the experiment."""
        variant = assign(spec.experiment, user_id, persona)
        if variant is None:
            return None
        keys = [
            exposure_key(self.namespace, spec.key, user_id),
            exposed_key(self.namespace, spec.key),
            engagement_key(self.namespace, spec.key),
        ]
        recorded, first = await self._sticky(
            keys=keys, args=[variant, f"{now or time.time():.3f}", user_id]
        )
        return recorded.decode(), float(first)

    async def convert(self, spec: ExperimentSpec, user_id: str, now: float | None = None) -> bool:
        """Record the user's first conversion; False when not exposed or already converted."""
        keys = [
            exposure_key(self.namespace, spec.key, user_id),
            conversions_key(self.namespace, spec.key),
        ]
        return bool(await self._convert(keys=keys, args=[user_id, f"{now or time.time():.3f}"]))

    async def session_started(
        self, user_id: str, experiment_keys: list[str], now: float | None = None
    ) -> None:
        """Count a session of the user in each experiment they were exposed to, and a return
        within RETURN_WINDOW_S of the first exposure."""
        if not experiment_keys:
            return
        ns = self.namespace
        keys = [
            key
            for name in experiment_keys
            for key in (
                exposure_key(ns, name, user_id),
                engagement_key(ns, name),
                returns_key(ns, name),
            )
        ]
        now_s = f"{time.time() if now is None else now:.3f}"
        await self._session(keys=keys, args=[user_id, now_s, RETURN_WINDOW_S])

    async def messages(self, exposed: dict[str, str]) -> None:
        """Count one message for each (experiment, variant) the user is exposed to."""
        async with self.client.pipeline(transaction=False) as pipe:
            for name, variant in exposed.items():
                pipe.hincrby(engagement_key(self.namespace, name), f"{variant}:messages", 1)
            await pipe.execute()
