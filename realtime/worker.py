"""voltmart-worker (python -m realtime.worker) [--redis-url ...] [--consumer worker-1]: the
feature worker, consuming the event stream until SIGTERM or SIGINT (realtime/processing.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from core.redis_clients import async_client, close_async
from core.settings import Settings, command_settings
from experiments.policy import ArmChooser, chooser_for
from privacy.keyring import service_pseudonym_key
from realtime.processing import FeatureWorker
from realtime.sources import RedisStreamSource
from realtime.stream import DEFAULT_STREAM

logger = logging.getLogger("realtime.worker")


def attribution_chooser(events, namespace: str, settings: Settings) -> ArmChooser:
    """Decisions and exposures where the action server keeps them (beside the stream), with
    the experiments whose conversions purchases and add-to-carts complete."""
    return chooser_for(events, namespace, settings.paths.experiments)


async def _main(args, settings: Settings) -> int:
    timeouts = dict(socket_timeout=5, socket_connect_timeout=2)
    client = async_client(args.redis_url, cluster=args.cluster, **timeouts)
    events = client
    if args.cluster:  # the stream stays on the standalone Redis beside the cluster
        if not args.events_url:
            raise ValueError("--cluster needs --events-url or PZ_SHARED_REDIS_URL")
        events = async_client(args.events_url, cluster=False, **timeouts)
    source = RedisStreamSource(events, args.stream, args.group, args.consumer)
    await source.ensure_group()
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
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logger.info(
        "feature worker %s consuming %s (group %s); attribution window %d s",
        args.consumer,
        args.stream,
        args.group,
        settings.attribution_window_s,
    )
    await worker.run(stop)
    logger.info("feature worker stopped: %s", worker.stats)
    await close_async(client)
    if events is not client:
        await close_async(events)
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = command_settings()
    redis = settings.redis
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
    parser.add_argument("--stream", default=DEFAULT_STREAM)
    parser.add_argument("--group", default="features")
    parser.add_argument("--consumer", default="worker-1")
    parser.add_argument("--namespace", default=redis.namespace)
    parser.add_argument("--reassign-interval", type=float, default=30.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        return asyncio.run(_main(args, settings))
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
