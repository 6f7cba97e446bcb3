#!/usr/bin/env bash
# Installs fieldtune, then fine-tunes the demo models on the embedded synthetic data (offline) and ranks them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
.venv/bin/fieldtune demo "$@"
