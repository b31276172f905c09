"""Fixtures for the search-space tests: a tree with config-only base and experts (d_model 32, 2+2 layers)
and a tiny corpus, built once per session; one torch thread."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from space_fixtures import LANGUAGES, config_dir, corpus_dir, whisper_config


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/models/{base,de,es,fr} (config.json only) and root/data (corpus: de es fr, 6 dev clips each)."""
    root = tmp_path_factory.mktemp("space-tree")
    config = whisper_config()
    for name in ("base", *LANGUAGES):
        config_dir(root / "models" / name, config)
    corpus_dir(root / "data")
    return root
