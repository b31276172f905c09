"""The shipped search spaces travel with a wheel (a non-editable install, e.g. the cluster image) to the
place `shipped_space` looks in an installed copy: `<prefix>/share/lors_search/search_spaces/`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lors_search.space import shipped

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_wheel_installs_every_shipped_space_where_shipped_space_looks(tmp_path: Path) -> None:
    # Build from a copy: setuptools writes build/ and *.egg-info/ into the source tree.
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for folder in ("lors_search", "search_spaces"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp_path), str(source)],
        check=True, capture_output=True, timeout=600,
    )
    (wheel,) = tmp_path.glob("lors_search-*.whl")
    # A wheel's "<dist>.data/data/<path>" entries install to "<sys.prefix>/<path>".
    shipped_in_wheel = {
        name.split(".data/data/", 1)[1] for name in zipfile.ZipFile(wheel).namelist() if ".data/data/" in name
    }
    relative = shipped._INSTALLED.relative_to(sys.prefix)
    expected = {str(relative / path.name) for path in (REPO / "search_spaces").glob("*.yaml")}
    assert expected and shipped_in_wheel == expected
