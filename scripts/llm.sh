#!/usr/bin/env bash
# Start/stop the local model server (llama-cpp-python, var/llm/venv) on loopback.
# usage: scripts/llm.sh start|stop [PORT]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cmd=${1:?usage: llm.sh start|stop [PORT]}
port=${2:-8081}
case $cmd in
start)
  scripts/install_llm.sh
  scripts/secret.sh llm_api_key >/dev/null  # the server's API key (var/secrets/llm_api_key)
  .venv/bin/python -m generation start --port "$port" \
    --api-key-file "${PZ_SECRETS_DIR:-var/secrets}/llm_api_key" --pidfile var/run/llm.pid ;;
stop) [[ -x .venv/bin/python ]] && .venv/bin/python -m generation stop --pidfile var/run/llm.pid ;;
*) echo "usage: llm.sh start|stop [PORT]" >&2; exit 2 ;;
esac
