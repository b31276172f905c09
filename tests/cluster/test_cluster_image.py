"""cluster/Dockerfile and its build-context filter: the pinned Ray base, CUDA torch, the project."""

from __future__ import annotations

import re

from cluster_files import CLUSTER_DIR


def _instructions() -> list[str]:
    """Dockerfile instructions with comments dropped and continuation lines joined."""
    text = (CLUSTER_DIR / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return [i.strip() for i in re.sub(r"\\\n\s*", " ", "\n".join(lines)).splitlines() if i.strip()]


def test_base_image_is_the_pinned_ray_gpu_image(ray_gpu_image: str) -> None:
    froms = [i for i in _instructions() if i.upper().startswith("FROM ")]
    assert froms == [f"FROM {ray_gpu_image}"]


def test_torch_is_the_pinned_version_from_the_pytorch_cuda_index(torch_pin: str) -> None:
    instructions = _instructions()
    (arg,) = [i for i in instructions if i.startswith("ARG TORCH_CUDA=")]
    assert re.fullmatch(r"ARG TORCH_CUDA=cu\d+", arg)
    runs = [i for i in instructions if i.startswith("RUN ")]
    torch_run = next(i for i in runs if "torch==" in i)
    assert f'"torch=={torch_pin}"' in torch_run
    assert '--index-url "https://download.pytorch.org/whl/${TORCH_CUDA}"' in torch_run
    project_run = next(i for i in runs if "/opt/lors_search/src" in i)
    assert runs.index(torch_run) < runs.index(project_run)
    assert "-c /opt/lors_search/src/requirements.lock /opt/lors_search/src" in project_run


def test_the_image_checks_its_ray_version(ray_version: str) -> None:
    assert any(f"ray.__version__ == '{ray_version}'" in i for i in _instructions())


def test_no_token_or_auth_switch_is_baked_in() -> None:
    for instruction in _instructions():
        assert not re.match(r"(ENV|ARG)\s+RAY_AUTH", instruction), instruction
