#!/usr/bin/env bash
# Make sure the browser tests can run; cheap when nothing is missing.
#  - Debian's chromium (/usr/bin/chromium); playwright's own browser download
#    does not work on this machine, so playwright-core drives the Debian one
#  - Debian's fonts-noto-color-emoji: the page's emoji (👍 👎) need a colour emoji font
#  - tests/browser/node_modules (playwright-core, from package-lock.json)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

need_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@";
  else echo "Error: '$*' needs root; install chromium by hand or run as root" >&2; exit 1; fi
}

missing=()
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
[[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]] || missing+=(fonts-noto-color-emoji)
if ((${#missing[@]})); then
  echo "==> installing ${missing[*]} (Debian packages)"
  need_root apt-get update -qq
  need_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ ! -d tests/browser/node_modules/playwright-core ]]; then
  command -v npm >/dev/null || { echo "Error: npm not found; install Node.js 20 or newer" >&2; exit 1; }
  echo "==> installing playwright-core into tests/browser/node_modules"
  npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
fi
