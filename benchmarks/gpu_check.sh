#!/usr/bin/env bash
# One prepared GPU check (issue 16): every GPU figure in one run, into ONE JSON and ONE markdown table.
#
#   bash benchmarks/gpu_check.sh [--out DIR] [--work DIR] [--quick] [--allow-cpu] [--only SECTION ...]
#                                [--budget-s S] [--wheels DIR]
#   bash benchmarks/gpu_check.sh --download-wheels DIR     # on a machine with network, for one without
#
# Run from anywhere; it works in the repository root. Python: $PYTHON, else .venv/bin/python, else python3.
# First it makes fieldtune importable (benchmarks/gpu_check_install.py: nothing when it already is; else
# wheels from --wheels DIR (default .whl/), else `pip install -e .`; never another torch), then runs
# benchmarks/gpu_check.py with the repository on PYTHONPATH and the Hub offline. Exit code: 0 every section
# ran, 1 a section failed (the others' figures are still written), 2 no GPU without --quick / --allow-cpu,
# 3 dependencies missing and nothing to install them from.
set -u
cd "$(dirname "$0")/.." || exit 2
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
WHEELS=.whl
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --download-wheels) exec "$PY" benchmarks/gpu_check_install.py "$@" ;;
    --wheels) WHEELS="$2"; shift 2 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
"$PY" benchmarks/gpu_check_install.py --wheels "$WHEELS" || exit $?
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 HF_HUB_DISABLE_XET=1 TOKENIZERS_PARALLELISM=false
exec "$PY" benchmarks/gpu_check.py "${ARGS[@]}"
