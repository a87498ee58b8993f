#!/usr/bin/env bash
# Start or stop a project-local PostgreSQL (Debian's package) for Rasa's conversations:
# loopback only, data under var/postgres-NAME, password login (scram-sha-256) for user `pz`,
# database `voltmart`. The password is generated once into var/secrets/ (mode 600); `url`
# prints the SQLAlchemy URL. PostgreSQL refuses to run as root: as root the server runs as
# the package's `postgres` user, which owns the data directory.
# usage: scripts/postgres.sh start|stop|status|url NAME PORT
set -euo pipefail
cmd=${1:?usage: postgres.sh start|stop|status|url NAME PORT}
name=${2:?name}
port=${3:?port}
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/var/postgres-$name"
data="$dir/data"
db=voltmart

password() { echo "${PZ_POSTGRES_PASSWORD:-$("$root/scripts/secret.sh" postgres.password)}"; }
bin() {
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [[ -x $found/postgres ]] || { echo "Error: PostgreSQL server not found; run 'make install'" >&2; exit 1; }
  echo "$found"
}
as_owner() {  # run a server command as the data directory's owner
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
# The postmaster's pid, alive and not a zombie (a killed server whose parent is an init that
# does not reap stays one, and would block a restart through its stale postmaster.pid).
running() {
  local pid
  pid=$(head -1 "$data/postmaster.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/stat ]] && [[ $(cut -d' ' -f3 "/proc/$pid/stat") != Z ]]
}
psql_app() { PGPASSWORD=$(password) psql -h 127.0.0.1 -p "$port" -U pz -X -q -v ON_ERROR_STOP=1 "$@"; }

case $cmd in
url) echo "postgresql://pz:$(password)@127.0.0.1:$port/$db" ;;
start)
  if running; then echo "postgres[$name] already running on port $port"; exit 0; fi
  pg=$(bin)
  mkdir -p "$dir"
  rm -f "$data/postmaster.pid" "$data"/.s.PGSQL.*.lock  # left by a server that was killed
  if [[ ! -f $data/PG_VERSION ]]; then
    rm -rf "$data"; mkdir -p "$data"; chmod 700 "$data"
    pwfile="$dir/.pw.$$"
    (umask 077; password > "$pwfile")
    if [[ $(id -u) -eq 0 ]]; then  # the server's user must reach its directory
      chmod o+x "$root/var"; chown postgres: "$dir" "$data" "$pwfile"
    fi
    as_owner "$pg/initdb" -D "$data" -U pz --pwfile="$pwfile" --auth=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { rm -f "$pwfile"; echo "Error: initdb failed; see ${dir#"$root"/}/initdb.log" >&2; exit 1; }
    rm -f "$pwfile"
  fi
  # Loopback TCP only; the socket lives in the data directory, not in /var/run.
  as_owner "$pg/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='$data'" start >/dev/null ||
    { echo "Error: postgres[$name] did not start on port $port; see ${dir#"$root"/}/postgres.log:" >&2
      tail -5 "$dir/postgres.log" >&2; exit 1; }
  if ! psql_app -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname='$db'" | grep -q 1; then
    psql_app -d postgres -c "CREATE DATABASE $db"
  fi
  echo "postgres[$name] up on 127.0.0.1:$port (user pz, database $db), data in ${dir#"$root"/}" ;;
stop)
  if running; then
    as_owner "$(bin)/pg_ctl" -D "$data" -m fast -w -t 20 stop >/dev/null ||
      as_owner "$(bin)/pg_ctl" -D "$data" -m immediate -w stop >/dev/null
    echo "postgres[$name] stopped"
  fi ;;
status)
  if running; then echo "postgres[$name] running on port $port"; else echo "postgres[$name] stopped"; exit 1; fi ;;
*) echo "usage: postgres.sh start|stop|status|url NAME PORT" >&2; exit 2 ;;
esac
