#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs lors_search with its pinned dependencies.
# Idempotent: a second run only checks what is installed. torch is pinned to 2.13.0, which
# resolves to the CPU wheel on the project's machines; an unpinned torch would pull a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.lors-installed
want="$(cat pyproject.toml requirements.lock 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "lors-search setup: installing pinned dependencies into .venv (first run takes a few minutes)" >&2
  .venv/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[test]"
  echo "$want" > "$stamp"
fi
