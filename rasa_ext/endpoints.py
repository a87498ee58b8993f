"""python -m rasa_ext.endpoints SRC DST: SRC with its event broker switched to Kafka.

`PZ_EVENT_TRANSPORT=kafka make run` starts Rasa with this copy (var/run/endpoints.yml), so
endpoints.yml stays the one file a developer edits; PZ_KAFKA_BOOTSTRAP and PZ_KAFKA_TOPIC
say where the broker and topic are.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from core.settings import StreamSettings, command_settings


def kafka_broker(stream: StreamSettings) -> dict:
    return {
        "type": "rasa_ext.kafka_broker.BufferedKafkaBroker",
        "url": stream.kafka_bootstrap,
        "topic": stream.kafka_topic,
        "security_protocol": "PLAINTEXT",  # loopback; Tansu's SASL needs stored users (README)
        "queue_size": 100_000,
    }


def with_kafka(endpoints: dict, stream: StreamSettings) -> dict:
    return {**endpoints, "event_broker": kafka_broker(stream)}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m rasa_ext.endpoints SRC DST", file=sys.stderr)
        return 2
    src, dst = Path(args[0]), Path(args[1])
    endpoints = yaml.safe_load(src.read_text(encoding="utf-8")) or {}
    dst.parent.mkdir(parents=True, exist_ok=True)
    header = f"# Generated from {src} by rasa_ext/endpoints.py (PZ_EVENT_TRANSPORT=kafka).\n"
    body = yaml.safe_dump(with_kafka(endpoints, command_settings().stream), sort_keys=False)
    dst.write_text(header + body, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
