#!/usr/bin/env bash
# Set up .venv on a fresh machine: the CPU build of torch, the project's requirements, and with
# --test the test tools and Debian's Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0" -r requirements.txt
if [[ "${1:-}" == "--test" ]]; then
  .venv/bin/python -m pip install -q "torch==2.13.0" -r requirements-test.txt
  if ! command -v chromium >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
    else
      echo "note: install Debian's chromium (sudo apt-get install chromium) for the browser tests" >&2
    fi
  fi
fi
