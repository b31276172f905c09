"""Shared fixtures for the speech-corpus tests: a tiny two-language spec and the corpus built from it once
per session (in this process, and again with two spawned workers for the determinism check)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from speech_fixtures import tiny_spec_data

from lors_search.speech.corpus import build_corpus


@pytest.fixture(scope="session")
def tiny_spec() -> dict[str, Any]:
    return tiny_spec_data()


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_corpus(tiny_spec_data(), tmp_path_factory.mktemp("corpus") / "data", workers=1, progress=False)


@pytest.fixture(scope="session")
def tiny_corpus_two_workers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_corpus(tiny_spec_data(), tmp_path_factory.mktemp("corpus2") / "data", workers=2, progress=False)
