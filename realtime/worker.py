"""voltmart-worker (python -m realtime.worker) [--transport redis|kafka] [--consumer worker-1]:
the feature worker, consuming the event stream until SIGTERM or SIGINT (realtime/processing.py).

Several workers with distinct --consumer names share the work: the Redis stream's consumer
group, or the Kafka topic's partitions. --metrics-port serves Prometheus metrics on loopback
(events by outcome, consumer lag).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from core.redis_clients import async_client, close_async
from core.settings import Settings, command_settings
from experiments.policy import ArmChooser, chooser_for
from privacy.keyring import service_pseudonym_key
from realtime.kafka import KafkaSource, KafkaUnavailable
from realtime.processing import FeatureWorker
from realtime.sources import RedisStreamSource
from realtime.stream import DEFAULT_STREAM

logger = logging.getLogger("realtime.worker")
LAG_INTERVAL_S = 5.0


def attribution_chooser(events, namespace: str, settings: Settings) -> ArmChooser:
    """Decisions and exposures where the action server keeps them (beside the stream), with
    the experiments whose conversions purchases and add-to-carts complete."""
    return chooser_for(events, namespace, settings.paths.experiments)


class WorkerMetrics:
    """The worker's counters and its consumer lag, read when Prometheus scrapes."""

    def __init__(self, worker: FeatureWorker, consumer: str, transport: str) -> None:
        self.worker, self.labels = worker, [consumer, transport]
        self.lag: int | None = None
        self.partitions: int | None = None  # Kafka only

    def collect(self):
        events = CounterMetricFamily(
            "pz_worker_events",
            "Events handled, by outcome",
            labels=["worker", "transport", "outcome"],
        )
        stats = self.worker.stats
        for outcome in ("applied", "duplicates", "skipped", "not_kept", "malformed"):
            events.add_metric([*self.labels, outcome], getattr(stats, outcome))
        yield events
        changes = CounterMetricFamily(
            "pz_worker_segment_changes", "Online segment changes", labels=["worker", "transport"]
        )
        changes.add_metric(self.labels, stats.segment_changes)
        yield changes
        yield self._gauge(
            "pz_worker_consumer_lag",
            "Events on the stream this worker's group (Kafka: its partitions) has not read",
            self.lag,
        )
        yield self._gauge(
            "pz_worker_partitions",
            "Partitions of the topic assigned to this worker (Kafka; 0 while others hold all)",
            self.partitions,
        )

    def _gauge(self, name: str, documentation: str, value: int | None) -> GaugeMetricFamily:
        """A gauge with no sample while the value is unknown (not sampled yet, or failed)."""
        gauge = GaugeMetricFamily(name, documentation, labels=["worker", "transport"])
        if value is not None:
            gauge.add_metric(self.labels, value)
        return gauge


async def sample_lag(source, metrics: WorkerMetrics, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            metrics.lag = await source.lag()
            metrics.partitions = getattr(source, "partitions", None)
        except Exception as exc:  # a metric must never stop the worker
            logger.debug("lag not sampled: %s", exc)
            metrics.lag = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), LAG_INTERVAL_S)


async def _main(args, settings: Settings) -> int:
    timeouts = dict(socket_timeout=5, socket_connect_timeout=2)
    client = async_client(args.redis_url, cluster=args.cluster, **timeouts)
    events = client
    if args.cluster:  # the stream stays on the standalone Redis beside the cluster
        if not args.events_url:
            raise ValueError("--cluster needs --events-url or PZ_SHARED_REDIS_URL")
        events = async_client(args.events_url, cluster=False, **timeouts)
    if args.transport == "kafka":
        source = KafkaSource.create(args.bootstrap, args.topic, args.group, args.consumer)
        where = f"Kafka {args.bootstrap} topic {args.topic}"
    else:
        source = RedisStreamSource(
            events, args.stream, args.group, args.consumer, args.claim_idle_ms
        )
        await source.ensure_group()
        where = f"Redis stream {args.stream}"
    key = service_pseudonym_key(settings)
    worker = FeatureWorker(
        source,
        client,
        args.namespace,
        args.reassign_interval,
        live_ttl_s=settings.privacy.retention_seconds,
        pseudonym_key=key,
        chooser=attribution_chooser(events, args.namespace, settings),
        attribution_window_s=settings.attribution_window_s,
    )
    metrics = WorkerMetrics(worker, args.consumer, args.transport)
    if args.metrics_port:
        registry = CollectorRegistry()
        registry.register(metrics)
        start_http_server(args.metrics_port, addr="127.0.0.1", registry=registry)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logger.info(
        "feature worker %s consuming %s (group %s); attribution window %d s",
        args.consumer,
        where,
        args.group,
        settings.attribution_window_s,
    )
    lag = asyncio.ensure_future(sample_lag(source, metrics, stop))
    await worker.run(stop)
    await lag
    if isinstance(source, KafkaSource):
        source.close()
    logger.info("feature worker stopped: %s", worker.stats)
    await close_async(client)
    if events is not client:
        await close_async(events)
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = command_settings()
    redis, stream = settings.redis, settings.stream
    parser = argparse.ArgumentParser(prog="voltmart-worker", description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", default=redis.url)
    parser.add_argument(
        "--cluster",
        action=argparse.BooleanOptionalAction,
        default=redis.cluster,
        help="--redis-url is a Redis Cluster node (default: PZ_REDIS_CLUSTER)",
    )
    parser.add_argument(
        "--events-url",
        default=redis.shared_url,
        help="with --cluster: the standalone Redis holding the stream (PZ_SHARED_REDIS_URL)",
    )
    parser.add_argument(
        "--transport", choices=("redis", "kafka"), default=stream.transport,
        help="where the events come from (default: PZ_EVENT_TRANSPORT, redis)",
    )  # fmt: skip
    parser.add_argument("--stream", default=DEFAULT_STREAM, help="the Redis stream")
    parser.add_argument("--bootstrap", default=stream.kafka_bootstrap, help="Kafka broker(s)")
    parser.add_argument("--topic", default=stream.kafka_topic, help="the Kafka topic")
    parser.add_argument("--group", default="features")
    parser.add_argument("--consumer", default="worker-1", help="unique per worker of a group")
    parser.add_argument(
        "--claim-idle-ms", type=int, default=15_000,
        help="Redis: take over another worker's unacknowledged events after this long",
    )  # fmt: skip
    parser.add_argument("--metrics-port", type=int, default=0, help="0: no metrics endpoint")
    parser.add_argument("--namespace", default=redis.namespace)
    parser.add_argument("--reassign-interval", type=float, default=30.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        return asyncio.run(_main(args, settings))
    except (ValueError, KafkaUnavailable) as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
