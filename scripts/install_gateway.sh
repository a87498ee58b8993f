#!/usr/bin/env bash
# The gateway's own environment, var/gateway-venv, from requirements/gateway.txt; instant when
# the lock has not changed. The gateway imports no Rasa code, so it runs on a current aiohttp
# instead of the 3.9 that Rasa 3.6 pins (README, "Gateway and web chat").
#   scripts/install_gateway.sh         install (rebuilt from scratch when the lock changes)
#   scripts/install_gateway.sh --lock  re-resolve requirements/gateway.txt in a throwaway venv
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PYTHON=${PYTHON:-python3.11}
venv=var/gateway-venv
lock=requirements/gateway.txt
# The third-party packages of the gateway's import closure (gateway/ and the core, privacy and
# realtime modules it imports). Those the Rasa environment shares stay at runtime.txt's pins.
shared='redis|hiredis|cryptography|PyJWT|prometheus-client|confluent-kafka|ujson|psycopg2-binary'
newest='aiohttp>=3.14.3'  # the release that fixes the last advisory listed in the README

need_python() {
  command -v "$PYTHON" >/dev/null \
    || { echo "Error: $PYTHON not found; the gateway needs CPython 3.11" >&2; exit 1; }
  "$PYTHON" -m pip --version >/dev/null 2>&1 \
    || { echo "Error: $PYTHON has no pip (22.3 or later installs into $venv)" >&2; exit 1; }
}
# The interpreter's pip, pointed at a venv (--python): the venv holds the lock and nothing else.
pip() { "$PYTHON" -m pip --disable-pip-version-check --python "$1/bin/python" "${@:2}"; }

if [[ ${1:-} == --lock ]]; then
  need_python
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  "$PYTHON" -m venv --without-pip "$tmp/venv"
  mapfile -t pins < <(grep -E "^($shared)==" requirements/runtime.txt)
  pip "$tmp/venv" install -q "$newest" "${pins[@]}"
  {
    echo "# The gateway's environment (var/gateway-venv), fully pinned: what gateway/ and the core,"
    echo "# privacy and realtime modules it imports need on CPython 3.11, with a current aiohttp."
    echo "# Installed with --no-deps by scripts/install_gateway.sh (scripts/install.sh runs it)."
    echo "# Regenerate with 'scripts/install_gateway.sh --lock': $newest and its dependencies"
    echo "# at their newest; these as requirements/runtime.txt pins them, since the Rasa"
    echo "# environment runs the same core, privacy and realtime code:"
    echo "#   ${shared//|/, }"
    pip "$tmp/venv" freeze
  } > "$lock"
  echo "wrote $lock"
  exit 0
fi

stamp="$venv/.lock-$( (cat "$lock"; echo "$root") | sha256sum | cut -c1-16)"
[[ -f $stamp && -x $venv/bin/python ]] && exit 0

need_python
echo "==> installing the gateway's environment into $venv ($lock)"
rm -rf "$venv"
"$PYTHON" -m venv --without-pip "$venv"
pip "$venv" install -q --no-deps -r "$lock" \
  || { echo "Error: installing $lock into $venv failed (see above)" >&2; exit 1; }
if ! problems=$(pip "$venv" check 2>&1); then
  echo "$problems" >&2
  echo "Error: $venv is inconsistent; regenerate $lock (scripts/install_gateway.sh --lock)" >&2
  exit 1
fi
# The project's packages come from the work tree, not from an install (pyproject's
# dependencies are Rasa's).
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$root" > "$site/voltmart.pth"
if ! error=$("$venv/bin/python" -c 'import gateway.__main__' 2>&1); then
  echo "$error" | tail -1 >&2
  echo "Error: the gateway does not import in $venv; is a package missing from $lock?" >&2
  exit 1
fi
touch "$stamp"
