#!/usr/bin/env bash
# Start/stop the action server, the feature worker and the Rasa server (pid files in var/run).
# usage: scripts/services.sh start|stop ACTIONS_PORT RASA_PORT ENDPOINTS_FILE
# WORKERS=N: feature workers in one group; PZ_EVENT_TRANSPORT=kafka: the event stream on the
# Kafka broker (scripts/kafka.sh), Rasa with its Kafka event broker.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cmd=${1:?usage: services.sh start|stop ACTIONS_PORT RASA_PORT [ENDPOINTS] [GATEWAY_PORT]}
actions_port=${2:-5055}
rasa_port=${3:-5005}
endpoints=${4:-endpoints.yml}
gateway_port=${5:-8080}
run=var/run; logs=var/log
mkdir -p "$run" "$logs"

# Secrets Rasa's endpoints.yml and the action server read (generated once under var/secrets/
# for development; set the variables to use your own).
export PZ_REDIS_PASSWORD=${PZ_REDIS_PASSWORD:-$(scripts/secret.sh redis.password)}
export PZ_POSTGRES_PASSWORD=${PZ_POSTGRES_PASSWORD:-$(scripts/secret.sh postgres.password)}
export PZ_CONVERSATIONS_URL=${PZ_CONVERSATIONS_URL:-postgresql://pz:$PZ_POSTGRES_PASSWORD@127.0.0.1:5490/voltmart}
export PZ_ACTION_SECRET=${PZ_ACTION_SECRET:-$(scripts/secret.sh action_secret)}
export PZ_GATEWAY_SECRET=${PZ_GATEWAY_SECRET:-$(scripts/secret.sh gateway_secret)}
export PZ_GENERATOR_API_KEY=${PZ_GENERATOR_API_KEY:-$(scripts/secret.sh llm_api_key)}
export PZ_REDIS_URL=${PZ_REDIS_URL:-redis://pz:$PZ_REDIS_PASSWORD@127.0.0.1:6390/0}

alive() { [[ -f $run/$1.pid ]] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

wait_http() {  # name url seconds
  for _ in $(seq $(( $3 * 5 ))); do
    curl -fsS -o /dev/null "$2" 2>/dev/null && return 0
    alive "$1" || { echo "Error: $1 exited during start-up; see $logs/$1.log" >&2; tail -20 "$logs/$1.log" >&2; return 1; }
    sleep 0.2
  done
  echo "Error: $1 did not answer $2 within $3 s; see $logs/$1.log" >&2; return 1
}

stop_one() {
  if alive "$1"; then
    kill "$(cat "$run/$1.pid")" 2>/dev/null || true
    for _ in $(seq 50); do alive "$1" || break; sleep 0.2; done
    alive "$1" && kill -9 "$(cat "$run/$1.pid")" 2>/dev/null || true
    echo "$1 stopped"
  fi
  rm -f "$run/$1.pid"
}

case $cmd in
start)
  if ! alive actions; then
    setsid .venv/bin/voltmart-actions --host 127.0.0.1 --port "$actions_port" \
      >"$logs/actions.log" 2>&1 < /dev/null &
    echo $! > "$run/actions.pid"
  fi
  if [[ ${PZ_EVENT_TRANSPORT:-redis} == kafka ]]; then  # Rasa's broker: the Kafka one
    .venv/bin/python -m rasa_ext.endpoints "$endpoints" "$run/endpoints.yml"
    endpoints=$run/endpoints.yml
  fi
  credentials=credentials.yml
  if [[ -n ${SLACK_TOKEN:-} && -n ${SLACK_SIGNING_SECRET:-} ]]; then
    credentials=$run/credentials.yml
    { cat credentials.yml; printf '\nslack:\n  slack_token: "${SLACK_TOKEN}"\n'
      printf '  slack_signing_secret: "${SLACK_SIGNING_SECRET}"\n'; } > "$credentials"
    echo "Slack channel enabled (/webhooks/slack/webhook)"
  fi
  api=()  # Rasa's HTTP API stays off unless an operator sets a token for it
  if [[ -n ${PZ_RASA_API_TOKEN:-} ]]; then api=(--enable-api --auth-token "$PZ_RASA_API_TOKEN"); fi
  if ! alive rasa; then
    setsid .venv/bin/rasa run --interface 127.0.0.1 --port "$rasa_port" --model models \
      --endpoints "$endpoints" --credentials "$credentials" "${api[@]}" \
      >"$logs/rasa.log" 2>&1 < /dev/null &
    echo $! > "$run/rasa.pid"
  fi
  # WORKERS feature workers in one consumer group (Redis stream or Kafka partitions,
  # PZ_EVENT_TRANSPORT); worker-N serves Prometheus metrics on 127.0.0.1:$((9400 + N)).
  for n in $(seq "${WORKERS:-1}"); do
    if ! alive "worker-$n"; then
      setsid .venv/bin/voltmart-worker --consumer "worker-$n" --metrics-port $((9400 + n)) \
        >"$logs/worker-$n.log" 2>&1 < /dev/null &
      echo $! > "$run/worker-$n.pid"
    fi
  done
  wait_http actions "http://127.0.0.1:$actions_port/health" 60
  echo "action server up on 127.0.0.1:$actions_port"
  sleep 0.5
  for n in $(seq "${WORKERS:-1}"); do
    alive "worker-$n" || { echo "Error: feature worker $n exited; see $logs/worker-$n.log" >&2
      tail -3 "$logs/worker-$n.log" >&2; exit 1; }
  done
  echo "${WORKERS:-1} feature worker(s) consuming the event stream (${PZ_EVENT_TRANSPORT:-redis})"
  wait_http rasa "http://127.0.0.1:$rasa_port/webhooks/rest/" 180
  echo "rasa server up on 127.0.0.1:$rasa_port"
  if ! alive gateway; then
    PZ_RASA_URL="http://127.0.0.1:$rasa_port" PZ_GATEWAY_DEMO_LOGIN=${PZ_GATEWAY_DEMO_LOGIN:-1} \
      setsid var/gateway-venv/bin/python -m gateway --port "$gateway_port" \
      >"$logs/gateway.log" 2>&1 < /dev/null &
    echo $! > "$run/gateway.pid"
  fi
  wait_http gateway "http://127.0.0.1:$gateway_port/health" 30
  echo "gateway up on 127.0.0.1:$gateway_port (web chat: http://127.0.0.1:$gateway_port/)"
  ;;
stop)
  stop_one gateway
  stop_one rasa
  stop_one actions
  for pidfile in "$run"/worker*.pid; do
    if [[ -e $pidfile ]]; then stop_one "$(basename "$pidfile" .pid)"; fi
  done
  ;;
*) echo "usage: services.sh start|stop ACTIONS_PORT RASA_PORT [ENDPOINTS]" >&2; exit 2 ;;
esac
