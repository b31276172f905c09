"""What a run reads (its space's checkpoints, data and compare models), and the check before a search starts
that its directory is a plain name under the runs directory, overlaps none of them and can be written."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from lors_search.fsutil import check_output_location, check_run_name, check_writable
from lors_search.rundir.files import RunDir

if TYPE_CHECKING:
    from lors_search.space import CompiledSpace, SearchSpace

Inputs = list[tuple[str, "str | os.PathLike[str] | None"]]


def space_inputs(space: CompiledSpace | SearchSpace) -> Inputs:
    """What a search, its export and its report read: the base, the experts, the data, the compare models."""
    return [
        ("base", space.base),
        *((f"expert {expert.name}", expert.path) for expert in space.experts),
        ("data", space.data.path),
        *((f"compare model {label}", path) for label, path in space.compare.items()),
    ]


def check_search_output(
    runs_dir: str | os.PathLike[str], name: str, space: CompiledSpace | SearchSpace, *, resume: bool
) -> None:
    """Before Ray starts: the run name is one path component (`--name ../x` would leave --runs-dir), the run
    directory overlaps none of the space's inputs, and it can be written (a new run's parent, a resumed run's
    own directory)."""
    check_run_name(name)
    root = Path(runs_dir) / name
    check_output_location(root, space_inputs(space), flag="run directory")
    check_writable(RunDir(root).run_json, flag="run directory")
