#!/usr/bin/env bash
# Start/stop the Kafka-compatible broker (Tansu, scripts/install_kafka.sh) on loopback, and
# create the event topic (PZ_KAFKA_TOPIC, PZ_KAFKA_PARTITIONS partitions) if it is missing.
# usage: scripts/kafka.sh start|stop [PORT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cmd=${1:?usage: kafka.sh start|stop [PORT]}
port=${2:-9392}
case $cmd in
start)
  scripts/install_kafka.sh
  .venv/bin/python -m realtime.kafka_server start --port "$port" ;;
stop) if [[ -x .venv/bin/python ]]; then .venv/bin/python -m realtime.kafka_server stop; fi ;;
*) echo "usage: kafka.sh start|stop [PORT]" >&2; exit 2 ;;
esac
