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

from search_fixtures import build_tiny_bench  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    before = torch.get_num_threads()
    try:
        return build_tiny_bench(tmp_path_factory.mktemp("search-bench"))
    finally:
        torch.set_num_threads(before)


def space_dict(bench: Path, **overrides: Any) -> dict[str, Any]:
    """A small space over the tiny bench: whole-stack groups, 2 rungs, 4 trials."""
    raw: dict[str, Any] = {
        "name": "tiny",
        "base": str(bench / "base"),
        "experts": [
            {"name": "de", "path": str(bench / "experts" / "de"), "language": "de"},
            {"name": "es", "path": str(bench / "experts" / "es"), "language": "es"},
        ],
        "data": {"path": str(bench / "data"), "split": "dev", "batch_size": 16},
        "method": "lors",
        "groups": {"encoder": {"size": "all"}, "decoder": {"size": "all"}, "modules": "shared"},
        "rank_ratio": {"low": 0.01, "high": 1.0, "log": True},
        "density": {"low": 0.05, "high": 1.0, "log": True},
        "scale": {"low": 0.1, "high": 1.0, "log": True},
        "seeds": ["paper_defaults", "task_arithmetic"],
        "budget": {"num_samples": 4, "max_failures": 2},
        "fidelity": {"n_per_language": [3, None], "reduction_factor": 2},
        "searcher": {"algorithm": "tpe", "seed": 0, "n_startup_trials": 3},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return raw


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

    from lors_search.runtime.names import NAMESPACE

    ray.init(
        address="local",  # always a fresh local Ray, never a cluster some other process started
        num_cpus=2,
        include_dashboard=False,
        namespace=NAMESPACE,
        object_store_memory=150 * 1024 * 1024,
        logging_level="WARNING",
    )
    try:
        yield
    finally:
        ray.shutdown()


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", TUNE_GLOBAL_CHECKPOINT_S="2")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(HERE), env.get("PYTHONPATH", "")])
    return env
