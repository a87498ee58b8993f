"""Counters and a histogram in Prometheus text format 0.0.4, without prometheus_client.

The gateway needs six series and no push or multiprocess machinery; a few dozen lines
keep the dependency list unchanged. Values live per process (scrape each gateway).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in pairs)
    return f"{{{inner}}}" if inner else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Counter:
    def __init__(self, name: str, help_text: str, labelnames: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.labelnames = name, help_text, labelnames
        self._values: dict[Labels, float] = {} if labelnames else {(): 0.0}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def _key(self, labels: dict[str, str]) -> Labels:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {tuple(labels)}")
        return tuple((name, str(labels[name])) for name in self.labelnames)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        for key, value in sorted(self._values.items()):
            lines.append(f"{self.name}{_labels(key)} {_number(value)}")
        return lines


class Histogram:
    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: tuple[str, ...] = (),
        buckets: tuple[float, ...] = DURATION_BUCKETS,
    ) -> None:
        self.name, self.help, self.labelnames = name, help_text, labelnames
        self.buckets = (*sorted(buckets), math.inf)
        self._series: dict[Labels, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = tuple((name, str(labels[name])) for name in self.labelnames)
        counts, total = self._series.setdefault(key, ([0] * len(self.buckets), [0.0]))
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                counts[i] += 1
        total[0] += value

    def count(self, **labels: str) -> int:
        key = tuple((name, str(labels[name])) for name in self.labelnames)
        return self._series[key][0][-1] if key in self._series else 0

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, (counts, total) in sorted(self._series.items()):
            for bound, count in zip(self.buckets, counts, strict=True):
                lines.append(f"{self.name}_bucket{_labels((*key, ('le', _number(bound))))} {count}")
            lines.append(f"{self.name}_sum{_labels(key)} {_number(total[0])}")
            lines.append(f"{self.name}_count{_labels(key)} {counts[-1]}")
        return lines


class GatewayMetrics:
    """Every series the gateway exports."""

    def __init__(self) -> None:
        self.requests = Counter(
            "gateway_requests_total", "HTTP requests by route and status.", ("route", "status")
        )
        self.fallbacks = Counter(
            "gateway_fallbacks_total",
            "Chat turns answered with the fallback message, by cause.",
            ("reason",),
        )
        self.rate_limited = Counter(
            "gateway_rate_limited_total", "Requests refused with 429, by limit.", ("scope",)
        )
        self.rate_limit_failopen = Counter(
            "gateway_rate_limit_failopen_total",
            "Requests let through unchecked because Redis did not answer.",
            ("scope",),
        )
        self.auth_failures = Counter(
            "gateway_auth_failures_total", "Rejected credentials, by reason.", ("reason",)
        )
        self.segment_lookups = Counter(
            "segment_lookups_total",
            "Chat turns forwarded to Rasa (each reads the user's segment in the action server).",
        )
        self.duration = Histogram(
            "gateway_request_duration_seconds", "Request handling time by route.", ("route",)
        )
        self._all = (
            self.requests,
            self.fallbacks,
            self.rate_limited,
            self.rate_limit_failopen,
            self.auth_failures,
            self.segment_lookups,
            self.duration,
        )

    def render(self) -> str:
        return "\n".join(line for metric in self._all for line in metric.render()) + "\n"
