#!/usr/bin/env bash
# Start or stop a project-local Redis: loopback only, data under var/, append-only on.
# usage: scripts/redis.sh start|stop|status NAME PORT
set -euo pipefail
cmd=${1:?usage: redis.sh start|stop|status NAME PORT}
name=${2:?name}
port=${3:?port}
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/var/redis-$name"
pidfile="$dir/redis.pid"
mkdir -p "$dir"

running() { [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }

case $cmd in
start)
  if running; then echo "redis[$name] already running on port $port (pid $(cat "$pidfile"))"; exit 0; fi
  command -v redis-server >/dev/null || { echo "Error: redis-server not found; run 'make install'" >&2; exit 1; }
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes \
    --pidfile "$pidfile" --logfile "$dir/redis.log" \
    --appendonly yes --appendfsync everysec --save "" --protected-mode yes
  for _ in $(seq 50); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && { echo "redis[$name] up on 127.0.0.1:$port, data in ${dir#"$root"/}"; exit 0; }
    sleep 0.1
  done
  echo "Error: redis[$name] did not answer on port $port; see $dir/redis.log" >&2; exit 1 ;;
stop)
  if running; then
    redis-cli -p "$port" shutdown >/dev/null 2>&1 || kill "$(cat "$pidfile")"
    for _ in $(seq 50); do running || break; sleep 0.1; done
    echo "redis[$name] stopped"
  fi ;;
status)
  if running; then echo "redis[$name] running on port $port"; else echo "redis[$name] stopped"; exit 1; fi ;;
*) echo "usage: redis.sh start|stop|status NAME PORT" >&2; exit 2 ;;
esac
