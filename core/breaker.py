"""Stop asking a server that just failed, for a moment, so an outage costs one timeout and
not one per turn; the first call after the pause tries again (resume within `pause_s`)."""

from __future__ import annotations

import time


class Breaker:
    def __init__(self, pause_s: float = 1.0) -> None:
        self.pause_s = pause_s
        self._until = 0.0
        self.trips = 0

    def allows(self) -> bool:
        return time.monotonic() >= self._until

    def trip(self) -> None:
        self._until = time.monotonic() + self.pause_s
        self.trips += 1
