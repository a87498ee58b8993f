"""Sticky exposures in Redis: the first variant a user saw is the one they keep.

    pz:exp:<key>:u:<user_id>   hash   variant, first_exposure (unix s)

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
end
return redis.call('HMGET', KEYS[1], 'variant', 'first_exposure')
"""


def exposure_key(namespace: str, experiment_key: str, user_id: str) -> str:
    return f"{namespace}:exp:{experiment_key}:u:{user_id}"


class ExposureStore:
    def __init__(self, client, namespace: str = "pz") -> None:
        self.client, self.namespace = client, namespace
        self._sticky = client.register_script(STICKY_SCRIPT)

    async def expose(
        self, spec: ExperimentSpec, user_id: str, persona: str, now: float | None = None
    ) -> tuple[str, float] | None:
        """(variant, first exposure time) for this user, or None when not in the experiment."""
        variant = assign(spec.experiment, user_id, persona)
        if variant is None:
            return None
        key = exposure_key(self.namespace, spec.experiment.key, user_id)
        recorded, first = await self._sticky(
            keys=[key], args=[variant, f"{now or time.time():.3f}"]
        )
        return recorded.decode(), float(first)
