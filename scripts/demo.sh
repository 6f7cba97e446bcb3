#!/usr/bin/env bash
# Installs fieldtune, then fine-tunes the demo models on the embedded synthetic data (offline) and ranks them.
# Install: needs PyPI; minutes to tens of minutes (network, CPU). Demo: offline, see README "Two commands".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1
started=$SECONDS
echo "== demo: MiniLM LoRA on order notes, then ViT-Tiny LoRA on rock images (offline)"
.venv/bin/fieldtune demo "$@"
echo "== demo done in $(( (SECONDS - started) / 60 )) min $(( (SECONDS - started) % 60 )) s"
