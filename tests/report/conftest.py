"""Fixtures for the report tests: the export tests' tiny benchmark and real run directories (built once per
session and shared with tests/export when both run), one torch thread."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "export"))

from export_fixtures import build_bench, build_run, shared_dir  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def report_bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bench(shared_dir(tmp_path_factory.getbasetemp(), "export-bench"))


@pytest.fixture(scope="session")
def single_run(report_bench: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """normalized_performance; trials 0, 1 (seeds), 3 complete, 2 PRUNED, 4 FAIL (same run as tests/export's)."""
    return build_run(report_bench, shared_dir(tmp_path_factory.getbasetemp(), "export-runs"), "single")


@pytest.fixture(scope="session")
def multi_run(report_bench: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Objectives asr_wer (min) and st_bleu (max), NSGA-II, 5 complete trials, one rung."""
    return build_run(
        report_bench, shared_dir(tmp_path_factory.getbasetemp(), "export-runs"), "multi",
        multi=True, n_sampled=3, prune=(), fail=False,
    )
