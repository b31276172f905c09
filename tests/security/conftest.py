"""Fixtures of the hardening tests: tiny real checkpoints (tests/merge/merge_fixtures), a tiny dataset with
plain float audio, broken variants of each, and a run directory over them, in one workspace per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# merge_fixtures lives in tests/merge; pytest puts only this folder (and tests/) on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "merge"))

from security_fixtures import Workspace, build_workspace


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return build_workspace(tmp_path_factory.mktemp("bad-inputs"))
