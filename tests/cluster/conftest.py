"""Shared fixtures for the checks of the cluster launch files in `cluster/` and `docs/cluster.md`.

Everything here is offline and fast: files are parsed and checked against the pinned versions
(Ray from the installed wheel, Python and torch from pyproject.toml) and against Ray's own schema.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import re
import tomllib
from typing import Any

import pytest
from cluster_files import REPO_ROOT


@pytest.fixture(scope="session")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def ray_version() -> str:
    """The Ray the project runs with: cluster images and manifests must name the same one."""
    return importlib.metadata.version("ray")


@pytest.fixture(scope="session")
def python_tag(pyproject: dict[str, Any]) -> str:
    """`py311` for requires-python ">=3.11,<3.12": the Python of the Ray image tag."""
    match = re.search(r">=\s*3\.(\d+)", pyproject["project"]["requires-python"])
    assert match, pyproject["project"]["requires-python"]
    return f"py3{match.group(1)}"


@pytest.fixture(scope="session")
def ray_gpu_image(ray_version: str, python_tag: str) -> str:
    return f"rayproject/ray:{ray_version}-{python_tag}-gpu"


@pytest.fixture(scope="session")
def torch_pin(pyproject: dict[str, Any]) -> str:
    """The exact torch version pyproject.toml pins, e.g. "2.13.0"."""
    for requirement in pyproject["project"]["dependencies"]:
        match = re.fullmatch(r"torch==([\w.]+)", requirement.replace(" ", ""))
        if match:
            return match.group(1)
    raise AssertionError("pyproject.toml pins no torch version")


@pytest.fixture(scope="session")
def ray_schema() -> dict[str, Any]:
    """The cluster-config JSON schema that ships in Ray's wheel (what `ray up` validates with)."""
    text = (importlib.resources.files("ray.autoscaler") / "ray-schema.json").read_text(encoding="utf-8")
    return json.loads(text)
