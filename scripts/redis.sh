#!/usr/bin/env bash
# Start or stop a project-local Redis: loopback only, data under var/, append-only on,
# password-protected ACL users:
#   default   locked: a random password nobody is given. It keeps every permission because
#             Redis replays the append-only file's MULTI/EXEC as this user and silently drops
#             them when it may not run them (redis/redis#14541, Redis 7.0-7.4): with the
#             default user off, every transactional write was lost at each restart.
#   pz        the application: every command except @dangerous (KEYS, FLUSHALL, CONFIG, ...)
#   pz-admin  operators and benchmarks (INFO, SHUTDOWN, ...)
# Passwords are generated once into var/secrets/ (mode 600); `url` prints a client URL.
# usage: scripts/redis.sh start|stop|status|url NAME PORT [admin]
set -euo pipefail
cmd=${1:?usage: redis.sh start|stop|status|url NAME PORT [admin]}
name=${2:?name}
port=${3:?port}
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/var/redis-$name"
pidfile="$dir/redis.pid"

# Alive and not a zombie: a killed server whose parent is an init that does not reap stays
# one, and `kill -0` would call it running.
running() {
  local pid
  pid=$(cat "$pidfile" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/stat ]] && [[ $(cut -d' ' -f3 "/proc/$pid/stat") != Z ]]
}

app_password() { echo "${PZ_REDIS_PASSWORD:-$("$root/scripts/secret.sh" redis.password)}"; }
admin_password() { "$root/scripts/secret.sh" redis-admin.password; }
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
admin_cli() { REDISCLI_AUTH=$(admin_password) redis-cli --user pz-admin -p "$port" "$@"; }

case $cmd in
url)
  if [[ ${4:-} == admin ]]; then echo "redis://pz-admin:$(admin_password)@127.0.0.1:$port/0"
  else echo "redis://pz:$(app_password)@127.0.0.1:$port/0"; fi ;;
start)
  if running; then echo "redis[$name] already running on port $port (pid $(cat "$pidfile"))"; exit 0; fi
  command -v redis-server >/dev/null || { echo "Error: redis-server not found; run 'make install'" >&2; exit 1; }
  mkdir -p "$dir"
  (umask 077; {
    echo "user default on #$(head -c 32 /dev/urandom | sha256sum | cut -d' ' -f1) ~* &* +@all"
    echo "user pz on #$(sha "$(app_password)") ~* &* +@all -@dangerous"
    echo "user pz-admin on #$(sha "$(admin_password)") ~* &* +@all"
  } > "$dir/users.acl")
  redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --daemonize yes \
    --pidfile "$pidfile" --logfile "$dir/redis.log" --aclfile "$dir/users.acl" \
    --appendonly yes --appendfsync everysec --save "" --protected-mode yes
  for _ in $(seq 50); do
    admin_cli ping >/dev/null 2>&1 && { echo "redis[$name] up on 127.0.0.1:$port (ACL users pz, pz-admin), data in ${dir#"$root"/}"; exit 0; }
    sleep 0.1
  done
  echo "Error: redis[$name] did not answer on port $port; see $dir/redis.log" >&2; exit 1 ;;
stop)
  if running; then
    admin_cli shutdown >/dev/null 2>&1 || kill "$(cat "$pidfile")"
    for _ in $(seq 50); do running || break; sleep 0.1; done
    echo "redis[$name] stopped"
  fi ;;
status)
  if running; then echo "redis[$name] running on port $port"; else echo "redis[$name] stopped"; exit 1; fi ;;
*) echo "usage: redis.sh start|stop|status|url NAME PORT [admin]" >&2; exit 2 ;;
esac
