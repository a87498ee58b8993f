#!/usr/bin/env bash
# Train the model only when the training inputs changed (config, domain, data/).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
model=models/voltmart.tar.gz
fp_file=models/.fingerprint
# The scope guard's code and the sentence encoder it was trained with count as inputs too.
fingerprint=$({ find config.yml domain.yml data rasa_ext/scope.py rasa_ext/parties.py \
  rasa_ext/sentence_encoder.py rasa_ext/data \
  -type f -print0 | sort -z | xargs -0 sha256sum; grep -i '^all-minilm' requirements/runtime.txt; } |
  sha256sum | cut -c1-32)
if [[ -f $model && -f $fp_file && $(cat "$fp_file") == "$fingerprint" ]]; then
  echo "==> model is up to date ($model)"
  exit 0
fi
echo "==> training the model (config, domain or data changed)"
rm -f "$fp_file"
.venv/bin/rasa train --fixed-model-name voltmart --out models --quiet
echo "$fingerprint" > "$fp_file"
