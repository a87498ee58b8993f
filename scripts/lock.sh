#!/usr/bin/env bash
# `make lock`: rewrite requirements/runtime.txt and dev.txt from the current .venv.
# A package stays in dev.txt if it is listed there now; everything else is runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
freeze=$(.venv/bin/pip freeze --exclude-editable | grep -v '^-e')
dev_names=$(grep -v '^#' requirements/dev.txt | cut -d= -f1 | tr 'A-Z_' 'a-z-')
is_dev() { grep -qx "$(echo "${1%%==*}" | tr 'A-Z_' 'a-z-')" <<<"$dev_names"; }
runtime_lines=() dev_lines=()
while read -r line; do
  if is_dev "$line"; then dev_lines+=("$line"); else runtime_lines+=("$line"); fi
done <<<"$freeze"
{ grep '^#' requirements/runtime.txt; printf '%s\n' "${runtime_lines[@]}"
  echo setuptools==70.3.0; echo wheel==0.45.1; } > requirements/runtime.txt.new
{ grep '^#' requirements/dev.txt; printf '%s\n' "${dev_lines[@]}"; } > requirements/dev.txt.new
mv requirements/runtime.txt.new requirements/runtime.txt
mv requirements/dev.txt.new requirements/dev.txt
echo "requirements/runtime.txt (${#runtime_lines[@]}) and requirements/dev.txt (${#dev_lines[@]}) updated"
