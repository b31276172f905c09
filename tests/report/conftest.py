"""Fixtures for the report tests: the export tests' tiny benchmark and real run directories (built once per
session and shared with tests/export when both run), one torch thread."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "export"))

from export_fixtures import session_bench, session_run
# one_torch_thread: the autouse one-thread fixture shared with tests/evaluation and tests/export (imported here
# so pytest registers it for this folder).
from tiny_bench_kit import one_torch_thread  # noqa: F401


@pytest.fixture(scope="session")
def report_bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_bench(tmp_path_factory)


@pytest.fixture(scope="session")
def single_run(report_bench: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """normalized_performance; trials 0, 1 (seeds), 3 complete, 2 PRUNED, 4 FAIL (same run as tests/export's)."""
    return session_run(report_bench, tmp_path_factory, "single")


@pytest.fixture(scope="session")
def multi_run(report_bench: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Objectives asr_wer (min) and st_bleu (max), NSGA-II, 5 complete trials, one rung."""
    return session_run(report_bench, tmp_path_factory, "multi", multi=True, n_sampled=3, prune=(), fail=False)
