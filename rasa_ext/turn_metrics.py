"""The Rasa server's turns as Prometheus series (GET /webhooks/rest/metrics), through
prometheus_client: how each turn ended and how long it took. One registry per channel
(Rasa builds the channel once per process; tests build several)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from core.limits import FALLBACK_REASONS

# The turn deadline is PZ_TURN_DEADLINE_S (default 3 s); the last buckets show late turns.
DURATION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)


class TurnMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.turns = Counter(
            "pz_rasa_turns",
            "Turns through the REST channel by outcome: answered, or the fallback's reason "
            "(deadline, error, empty).",
            ("outcome",),
            registry=self.registry,
        )
        self.duration = Histogram(
            "pz_rasa_turn_duration_seconds",
            "Time until the channel answered (a late turn is cut at the deadline).",
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )

    def turn(self, outcome: str, seconds: float) -> None:
        self.turns.labels(outcome=outcome).inc()
        self.duration.observe(seconds)

    def fallbacks(self) -> dict[str, int]:
        """Fallbacks so far by reason (GET /webhooks/rest/)."""
        sample = self.registry.get_sample_value
        counts = {r: sample("pz_rasa_turns_total", {"outcome": r}) for r in FALLBACK_REASONS}
        return {reason: int(n) for reason, n in counts.items() if n}

    def render(self, agent: Any = None) -> bytes:
        """The channel's series, then those of the stores and the broker Rasa built."""
        return b"".join(generate_latest(r) for r in [self.registry, *extension_registries(agent)])


def extension_registries(agent: Any) -> list[CollectorRegistry]:
    """The registries of the tracker store (under Rasa's wrappers), its event broker and
    the lock store, for those of ours that keep one (``.metrics``)."""
    if agent is None:
        return []
    store = getattr(agent, "tracker_store", None)
    while hasattr(store, "_tracker_store"):  # FailSafeTrackerStore, AwaitableTrackerStore
        store = store._tracker_store
    parts = [store, getattr(store, "event_broker", None), getattr(agent, "lock_store", None)]
    found = [getattr(part, "metrics", None) for part in parts]
    return [r for r in found if isinstance(r, CollectorRegistry)]
