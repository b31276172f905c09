"""What `lors-search search` refuses before Ray starts beyond loading the space: a model directory with a
config but no weights, a dev split with no audio (both fine for validating a template space)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from space_fixtures import space_dict, write_space

from lors_search.errors import UserError
from lors_search.evaluation.preflight import check_search_inputs
from lors_search.space import load_search_space


def test_a_template_tree_loads_but_cannot_be_searched(tree: Path) -> None:
    space = load_search_space(write_space(tree, space_dict(tree), f"{uuid.uuid4().hex[:8]}.yaml"))
    check_search_inputs(space)  # lenient: what loading a space checks
    with pytest.raises(UserError) as caught:
        check_search_inputs(space, strict=True)
    message = str(caught.value)
    assert message.startswith("base: ") and "has a config.json but no weights" in message and "\n" not in message


def test_strict_check_refuses_data_without_audio(tree: Path, tmp_path: Path) -> None:
    from space_fixtures import real_checkpoint, whisper_config

    models = tmp_path / "models"
    for name in ("base", "de", "es", "fr"):
        real_checkpoint(models / name, whisper_config())
    raw = space_dict(tree, base=str(models / "base"),
                     experts=[{"name": n, "path": str(models / n), "language": n} for n in ("de", "es", "fr")])
    space = load_search_space(write_space(tree, raw, f"{uuid.uuid4().hex[:8]}.yaml"))
    with pytest.raises(UserError, match=r"^data\.path: .*no 'audio' column"):
        check_search_inputs(space, strict=True)
