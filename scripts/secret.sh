#!/usr/bin/env bash
# Print a development secret from var/secrets/NAME, creating it once (random, mode 600).
# Production sets the matching environment variables instead; nothing here is in the repo.
# usage: scripts/secret.sh NAME
set -euo pipefail
name=${1:?usage: secret.sh NAME}
root=$(cd "$(dirname "$0")/.." && pwd)
dir="${PZ_SECRETS_DIR:-$root/var/secrets}"
file="$dir/$name"
if [[ ! -s $file ]]; then
  (umask 077; mkdir -p "$dir"; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$file.tmp.$$" &&
    mv -n "$file.tmp.$$" "$file"; rm -f "$file.tmp.$$")
fi
tr -d '\n' < "$file"
