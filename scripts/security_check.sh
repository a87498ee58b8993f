#!/usr/bin/env bash
# The security checks (also part of `make test`), then the table of their figures.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export RASA_TELEMETRY_ENABLED=false SQLALCHEMY_SILENCE_UBER_WARNING=1 TF_CPP_MIN_LOG_LEVEL=2
export PYTHONWARNINGS=ignore
rm -f var/security/*.json
.venv/bin/pytest -q -p no:cacheprovider tests/security tests/privacy/test_erasure.py
status=$?
.venv/bin/python scripts/security_report.py || status=1
exit $status
