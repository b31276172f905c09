"""Fixtures for the export tests: a tiny benchmark and real run directories (export_fixtures.build_run: a real
Optuna study, trials merged and scored by the search's worker code, no Ray), built once per session; one torch
thread (a 2-core machine shared with other jobs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from export_fixtures import session_bench, session_run
# one_torch_thread: the autouse one-thread fixture shared with tests/evaluation and tests/report (imported here
# so pytest registers it for this folder).
from tiny_bench_kit import one_torch_thread  # noqa: F401


@pytest.fixture(scope="session")
def export_bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_bench(tmp_path_factory)


@pytest.fixture(scope="session")
def search_run(export_bench: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trials 0 (paper defaults) and 1 (task arithmetic) seeds, 2 PRUNED, 3 sampled, 4 FAIL."""
    return session_run(export_bench, tmp_path_factory, "single")
