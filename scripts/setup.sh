#!/usr/bin/env bash
# Installs everything Sightline needs on a fresh Debian machine of this kind, idempotently:
#   system packages, the Python virtual environment with the project, and the detector's weights
#   (from the npm registry package @vladmandic/human, pinned by analysis/weights/package-lock.json).
# Usage: scripts/setup.sh [--tests]   (--tests adds what the test suite needs: PostgreSQL, Redis, the RTSP
#                                       test server's GStreamer packages)
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[ "${1:-}" = "--tests" ] && want_tests=1

packages=(opencv-doc)
if [ "$want_tests" = 1 ]; then
  packages+=(chromium postgresql redis-server python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
             gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad gstreamer1.0-libav
             nginx)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "Sightline needs Python 3.11 (found $("$python" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$python" -m venv .venv
fi
stamp=.venv/.sightline-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "== installing Python packages (torch is large: pip's cache serves it after the first time)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e ".[dev]"
  touch "$stamp"
fi

if [ ! -f analysis/weights/node_modules/@vladmandic/human/models/centernet.bin ]; then
  echo "== installing the detector's weights from the npm registry"
  npm ci --prefix analysis/weights --ignore-scripts --no-audit --no-fund --loglevel=error
fi
if [ ! -f frontend/dist/.vite/manifest.json ] || [ -n "$(find frontend/src frontend/index.html frontend/package-lock.json frontend/openapi.json -newer frontend/dist/.vite/manifest.json 2>/dev/null | head -n 1)" ]; then
  echo "== building the web UI (frontend/, Vite)"
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
fi
echo "== setup complete"
