"""Fixtures for the merge engine, checkpoint I/O and `lors-search merge` tests: a tiny Whisper base and
three experts built from a WhisperConfig and written to disk once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from merge_fixtures import EXPERT_NAMES, RegMeanBench, build_regmean_bench, perturb, save_model, tiny_config, write_processor
from torch import Tensor
from transformers import WhisperConfig, WhisperForConditionalGeneration


@dataclass(frozen=True)
class TinyModels:
    root: Path
    base_dir: Path
    expert_dirs: dict[str, Path]
    base: dict[str, Tensor]
    experts: dict[str, dict[str, Tensor]]
    config: WhisperConfig


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    root = tmp_path_factory.mktemp("merge_models")
    config = tiny_config()
    torch.manual_seed(0)
    state = WhisperForConditionalGeneration(config).state_dict()
    state.pop("proj_out.weight")
    base_dir = save_model(root / "base", state, config)
    write_processor(base_dir)
    experts = {name: perturb(state, seed) for seed, name in enumerate(EXPERT_NAMES, start=1)}
    expert_dirs = {name: save_model(root / f"expert-{name}", expert, config) for name, expert in experts.items()}
    return TinyModels(root, base_dir, expert_dirs, state, experts, config)


@pytest.fixture(scope="session")
def regmean_bench(tmp_path_factory: pytest.TempPathFactory) -> RegMeanBench:
    """A real corpus and real tokenizer-carrying checkpoints for RegMean's Gram paths (merge_fixtures)."""
    return build_regmean_bench(tmp_path_factory.mktemp("regmean_bench"))



@pytest.fixture(autouse=True)
def _single_thread() -> object:
    """One intra-op thread for these tests: on a 2-core machine shared with other jobs, two OpenMP threads
    make small LAPACK calls (SVD) up to 100x slower; the tests' numbers do not depend on it."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
