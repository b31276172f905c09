"""Fixtures for the search tests: a tiny benchmark on disk (the demo helper's quick demo when the root conftest
provides `quick_demo_dir`, for the smoke.yaml test only; otherwise `search_fixtures.build_tiny_bench`), one
local Ray (2 CPUs, no dashboard, token auth off) for the whole session, and a writer of search spaces."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "2")

from search_fixtures import build_tiny_bench, space_dict


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # build_tiny_bench trains with one torch thread and restores the caller's count itself
    return build_tiny_bench(tmp_path_factory.mktemp("search-bench"))


@pytest.fixture
def write_space(tiny_bench: Path, tmp_path: Path) -> Callable[..., Path]:
    def write(name: str = "tiny", **overrides: Any) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(space_dict(tiny_bench, name=name, **overrides), sort_keys=False))
        return path

    return write


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray for the in-process tests (2 CPUs, small object store)."""
    import ray

    ray.init(
        address="local",  # always a fresh local Ray, never a cluster some other process started
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=150 * 1024 * 1024,
        logging_level="WARNING",
    )
    try:
        yield
    finally:
        ray.shutdown()
