"""Sticky exposures in Redis: the first variant a user saw is the one they keep.

    pz:exp:<key>:u:<user_id>   hash   variant, first_exposure (unix s)
    pz:exp:<key>:exposed       hash   user_id -> variant (index for the report)
    pz:exp:<key>:conv          hash   user_id -> first conversion after exposure (unix s)

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
end
return redis.call('HMGET', KEYS[1], 'variant', 'first_exposure')
"""

# A conversion counts once, and only for a user exposed before it happened.
CONVERT_SCRIPT = """
local first = redis.call('HGET', KEYS[1], 'first_exposure')
if not first or tonumber(first) > tonumber(ARGV[2]) then return 0 end
return redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[2])
"""


def exposure_key(namespace: str, experiment_key: str, user_id: str) -> str:
    return f"{namespace}:exp:{experiment_key}:u:{user_id}"


def exposed_key(namespace: str, experiment_key: str) -> str:
    return f"{namespace}:exp:{experiment_key}:exposed"


def conversions_key(namespace: str, experiment_key: str) -> str:
    return f"{namespace}:exp:{experiment_key}:conv"


class ExposureStore:
    def __init__(self, client, namespace: str = "pz") -> None:
        self.client, self.namespace = client, namespace
        self._sticky = client.register_script(STICKY_SCRIPT)
        self._convert = client.register_script(CONVERT_SCRIPT)

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
