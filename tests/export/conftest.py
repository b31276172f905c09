"""Fixtures for the export tests: a tiny benchmark and real run directories (export_fixtures.build_run: a real
Optuna study, trials merged and scored by the search's worker code, no Ray), built once per session; one torch
thread (a 2-core machine shared with other jobs)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

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
def export_bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_bench(shared_dir(tmp_path_factory.getbasetemp(), "export-bench"))


@pytest.fixture(scope="session")
def search_run(export_bench: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trials 0 (paper defaults) and 1 (task arithmetic) seeds, 2 PRUNED, 3 sampled, 4 FAIL."""
    return build_run(export_bench, shared_dir(tmp_path_factory.getbasetemp(), "export-runs"), "single")
