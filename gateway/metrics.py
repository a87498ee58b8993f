"""The gateway's Prometheus series, through prometheus_client.

One registry per gateway instance (tests run several in one process); GET /metrics
renders it. Values live per process (scrape each gateway).
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

CONTENT_TYPE = CONTENT_TYPE_LATEST
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """Every series the gateway exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter(
            "gateway_requests",
            "HTTP requests by route and status.",
            ("route", "status"),
            registry=registry,
        )
        self.fallbacks = Counter(
            "gateway_fallbacks",
            "Chat turns answered with no real answer, by cause (README, gateway).",
            ("reason",),
            registry=registry,
        )
        self.rate_limited = Counter(
            "gateway_rate_limited",
            "Requests refused with 429, by limit.",
            ("scope",),
            registry=registry,
        )
        self.rate_limit_failopen = Counter(
            "gateway_rate_limit_failopen",
            "Requests let through unchecked because Redis did not answer.",
            ("scope",),
            registry=registry,
        )
        self.auth_failures = Counter(
            "gateway_auth_failures",
            "Rejected credentials, by reason.",
            ("reason",),
            registry=registry,
        )
        self.segment_lookups = Counter(
            "segment_lookups",
            "Chat turns forwarded to Rasa (each reads the user's segment in the action server).",
            registry=registry,
        )
        self.duration = Histogram(
            "gateway_request_duration_seconds",
            "Request handling time by route.",
            ("route",),
            buckets=DURATION_BUCKETS,
            registry=registry,
        )

    def render(self) -> str:
        return generate_latest(self.registry).decode("utf-8")
