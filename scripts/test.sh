#!/usr/bin/env bash
# Every check, in order; runs them all and fails if any failed. Called by `make test`.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
TEST_REDIS_PORT=${TEST_REDIS_PORT:-6391}
PZ_TEST_REDIS_URL=$(scripts/redis.sh url test "$TEST_REDIS_PORT")
export PZ_TEST_REDIS_URL
export RASA_TELEMETRY_ENABLED=false SQLALCHEMY_SILENCE_UBER_WARNING=1 TF_CPP_MIN_LOG_LEVEL=2
export PYTHONWARNINGS=ignore
RASA=.venv/bin/rasa
results=var/test-results
mkdir -p "$results" var/log

scripts/install_browser.sh || exit 1  # Debian chromium + playwright-core for the web-chat test
scripts/install_kafka.sh || exit 1  # the Kafka-compatible broker (Tansu) for the event-stream tests
# The local model server builds llama.cpp once on a fresh machine (about 5 minutes): in the
# background, while the other checks run; the real-model tests wait for it at the end.
scripts/install_llm.sh >var/log/install-llm.log 2>&1 &
llm_install=$!
scripts/redis.sh start test "$TEST_REDIS_PORT" || exit 1
trap 'scripts/redis.sh stop test "$TEST_REDIS_PORT" >/dev/null' EXIT

failed=()
step() {
  local name=$1; shift
  echo; echo "==> $name"
  local start=$SECONDS
  if "$@"; then echo "--- $name: ok ($((SECONDS - start)) s)"
  else echo "--- $name: FAILED ($((SECONDS - start)) s)"; failed+=("$name"); fi
}

ruff() { .venv/bin/ruff check . && .venv/bin/ruff format --check .; }
step "ruff" ruff
step "import contracts (.importlinter)" .venv/bin/lint-imports --no-cache --no-logo
step "layout (sizes, settings, circles)" .venv/bin/python scripts/layout_report.py --check
step "dead code (vulture)" .venv/bin/vulture
step "lint responses" .venv/bin/python -m responses.lint
step "rasa data validate" $RASA data validate --fail-on-warnings --quiet
step "train (if changed)" scripts/train.sh
rm -f var/security/*.json  # the security tests write fresh figures
step "pytest" .venv/bin/pytest -q -p no:cacheprovider -m "not llm" --durations=15
real_model() {
  wait "$llm_install" || { cat var/log/install-llm.log >&2; return 1; }
  .venv/bin/pytest -q -p no:cacheprovider -m llm
}
step "pytest: real model (local model server)" real_model
step "security report" .venv/bin/python scripts/security_report.py
step "rasa test: stories" $RASA test core --stories tests/stories --model models \
  --fail-on-prediction-errors --out "$results/core" --quiet
nlu_eval() {
  $RASA test nlu --nlu tests/nlu/test_nlu.yml --model models --out "$results/nlu" --quiet &&
    .venv/bin/python scripts/check_nlu.py "$results/nlu"
}
step "rasa test: NLU (held-out set)" nlu_eval

echo
if ((${#failed[@]})); then
  echo "make test: FAILED: ${failed[*]}"
  exit 1
fi
echo "make test: all checks passed"
