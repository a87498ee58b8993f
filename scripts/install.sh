#!/usr/bin/env bash
# Make sure everything the project needs is installed; cheap when nothing is missing.
#  - .venv from requirements/lock.txt (re-installed when the lock file changes)
#  - Debian's redis-server
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PYTHON=${PYTHON:-python3.11}
venv=.venv
lock=requirements/lock.txt
stamp="$venv/.lock-$(sha256sum "$lock" | cut -c1-16)"

need_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@";
  else echo "Error: '$*' needs root; install it by hand or run as root" >&2; exit 1; fi
}

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "==> installing redis-server (Debian package)"
  need_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq redis-server >/dev/null
fi

# `segment train --engine spark` (pyspark 3.5) runs on a JVM: Debian's Java 17 runtime.
if ! command -v java >/dev/null; then
  echo "==> installing Java 17 for Spark (Debian package openjdk-17-jre-headless)"
  need_root mkdir -p /usr/share/man/man1  # slim images lack it and the postinst needs it
  need_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

if [[ ! -f $stamp ]]; then
  command -v "$PYTHON" >/dev/null || { echo "Error: $PYTHON not found; this project needs CPython 3.11" >&2; exit 1; }
  echo "==> installing the Python environment into $venv (a few minutes the first time)"
  [[ -x $venv/bin/python ]] || "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip==24.3.1
  # --no-deps: the lock is the complete, resolved set. --ignore-requires-python:
  # rasa 3.6 declares <3.11 but runs on 3.11 (README, "Environment").
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --ignore-requires-python -r "$lock"
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  # The only accepted mismatch is rasa's matplotlib<3.6 pin (no cp311 wheels).
  if "$venv/bin/pip" check 2>/dev/null | grep -v "matplotlib" | grep -q .; then
    "$venv/bin/pip" check | grep -v matplotlib >&2
    echo "Error: the environment is inconsistent; fix requirements/lock.txt" >&2
    exit 1
  fi
  rm -f "$venv"/.lock-*
  touch "$stamp"
fi
