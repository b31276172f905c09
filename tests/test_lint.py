"""Lint in the test command: ruff (pinned in the `test` extra) with pyproject.toml's [tool.ruff] settings over
every Python file of the repository. Alone: `.venv/bin/python -m ruff check` (add `--fix` for the safe fixes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    # --no-cache: nothing written into the working tree.
    return subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", *args],
                          cwd=REPO, input=stdin, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing() -> None:
    proc = _ruff()
    assert proc.returncode == 0, f"ruff check found problems (fix them, or see README's Testing):\n{proc.stdout}{proc.stderr}"


def test_the_configuration_catches_an_unused_import() -> None:
    # The check above can only fail if the configuration is in force for the package's files.
    proc = _ruff("--stdin-filename", "lors_search/lint_probe.py", "-", stdin="import os\n")
    assert proc.returncode == 1 and "F401" in proc.stdout, proc.stdout + proc.stderr
