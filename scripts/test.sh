#!/usr/bin/env bash
# Installs fieldtune and its test tools, then runs the whole test suite (the tests run offline, on the CPU).
# What the install needs: PyPI for pip (fieldtune, and olah in .venv-olah); as root, apt-get (Debian) for
# chromium (the leaderboard HTML test) and fonts-wqy-microhei (CJK plot labels). Without them those tests are
# skipped, each saying why. The suite takes 15+ minutes on 2 CPU cores; the slowest tests are listed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# A real browser for the leaderboard HTML test (Debian's chromium; Playwright drives it, no download).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "== test setup: apt-get install chromium (for the leaderboard HTML test)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "chromium could not be installed: the browser test will be skipped"
elif ! command -v chromium >/dev/null 2>&1; then
  echo "== test setup: no chromium and not root (apt-get needs root): the browser test will be skipped"
fi
# A CJK font, so plots with Chinese label names show characters, not boxes (Debian's WenQuanYi Micro Hei,
# 1.6 MB; fieldtune.rundir.fonts finds it). Without one, plots are written with a warning.
if ! fc-list :lang=zh 2>/dev/null | grep -q . && [ "$(id -u)" = 0 ]; then
  echo "== test setup: apt-get install fonts-wqy-microhei (CJK plot labels)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei >/dev/null) \
    || echo "fonts-wqy-microhei could not be installed: the CJK font test will be skipped"
fi
# olah, an independent Hub server for the pull-side tests, pins its own web stack: its own venv.
if [ ! -x .venv-olah/bin/olah-cli ]; then
  echo "== test setup: pip install olah into .venv-olah (a local Hub server for the pull tests)"
  ${PYTHON:-python3} -m venv .venv-olah && .venv-olah/bin/python -m pip install -q --disable-pip-version-check olah \
    || echo "olah could not be installed: the olah tests will be skipped"
fi
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_XET=1
echo "== tests (15+ minutes on 2 CPU cores)"
.venv/bin/python -m pytest -q --durations=15 "$@"
