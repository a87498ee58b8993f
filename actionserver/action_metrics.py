"""The action server's Prometheus series (GET /metrics), through prometheus_client: one
registry per app, so tests can run several in one process."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

# Actions answer within PZ_ACTION_DEADLINE_MS (default 1.5 s); the last buckets show those
# that ran into it.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0)


class ActionMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.calls = Counter(
            "action_server_calls",
            "Action calls by action and outcome (ok, deadline and error answer with the "
            "apology, rejected is the action's own refusal).",
            ("action", "outcome"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "action_server_action_duration_seconds",
            "Time until the answer to an action call, by action.",
            ("action",),
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.refused = Counter(
            "action_server_refused_requests",
            "Requests refused before any action ran, by reason.",
            ("reason",),
            registry=self.registry,
        )

    def action(self, name: str, outcome: str, seconds: float) -> None:
        """Only names the executor knows reach here: the labels stay a fixed set."""
        self.calls.labels(action=name, outcome=outcome).inc()
        self.duration.labels(action=name).observe(seconds)

    def watch_generator(self, outcomes: Callable[[], Mapping[str, int]]) -> None:
        """The generator's answers by outcome (written, or why the template answered), from
        the counts it keeps for GET /health: the model server itself exports no metrics."""
        self.registry.register(_GeneratorOutcomes(outcomes))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _GeneratorOutcomes(Collector):
    def __init__(self, outcomes: Callable[[], Mapping[str, int]]) -> None:
        self.outcomes = outcomes

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "pz_generator_answers",
            "Generated-answer attempts by outcome: written, or why the template answered.",
            labels=("outcome",),
        )
        for outcome, count in sorted(self.outcomes().items()):
            family.add_metric((str(outcome),), count)
        yield family
