"""The `ray up` configurations (cluster/aws-gpu.yaml, cluster/gcp-gpu.yaml) checked offline.

Validation uses the JSON schema in Ray's wheel and Ray's own offline config preparation (what
`ray up` does before it talks to a cloud); the rest pins the properties the walkthrough relies on.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonschema
import pytest
from cluster_files import CLUSTER_DIR, RAY_UP_CONFIGS, load_yaml
from ray.autoscaler._private.util import prepare_config, validate_config


@pytest.fixture(scope="module", params=RAY_UP_CONFIGS)
def config(request: pytest.FixtureRequest) -> dict[str, Any]:
    loaded = load_yaml(CLUSTER_DIR / request.param)
    assert isinstance(loaded, dict)
    return loaded


def _node_types(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    workers = {name: spec for name, spec in types.items() if name != config["head_node_type"]}
    return head, workers


def _commands(config: dict[str, Any], key: str) -> str:
    return "\n".join(config.get(key, []))


def test_validates_against_rays_schema(config: dict[str, Any], ray_schema: dict[str, Any]) -> None:
    jsonschema.validate(config, ray_schema)


def test_rays_offline_preparation_accepts_it(config: dict[str, Any]) -> None:
    # The steps of `ray up` before any cloud call: fill defaults, merge commands, cross-checks.
    validate_config(prepare_config(copy.deepcopy(config)))


@pytest.mark.parametrize(
    "break_it",
    [
        lambda c: c.__setitem__("setup_comands", []),  # misspelt top-level key
        lambda c: c["docker"].__setitem__("run_option", []),  # misspelt docker key
        lambda c: c["available_node_types"]["gpu_worker"]["resources"].__setitem__("GPU", 0.5),
    ],
    ids=["top-level-typo", "docker-typo", "fractional-node-resource"],
)
def test_schema_rejects_broken_variants(
    config: dict[str, Any], ray_schema: dict[str, Any], break_it: Any
) -> None:
    """The schema check is not vacuous: the kinds of mistakes it exists for are caught."""
    broken = copy.deepcopy(config)
    break_it(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, ray_schema)


def test_image_is_the_pinned_ray_gpu_image(config: dict[str, Any], ray_gpu_image: str) -> None:
    docker = config["docker"]
    assert docker["image"] == ray_gpu_image
    # Head and workers must run the same Ray and Python: no per-role image overrides.
    assert "head_image" not in docker and "worker_image" not in docker
    for spec in config["available_node_types"].values():
        assert "worker_image" not in spec.get("docker", {})


def test_dashboard_on_loopback_and_never_on_all_interfaces(config: dict[str, Any]) -> None:
    head_start = _commands(config, "head_start_ray_commands")
    assert "ray start --head" in head_start
    assert "--dashboard-host=127.0.0.1" in head_start
    everything = "\n".join(
        _commands(config, key)
        for key in ("head_start_ray_commands", "worker_start_ray_commands", "setup_commands")
    )
    assert "0.0.0.0" not in everything


def test_token_authentication_on_every_node(config: dict[str, Any]) -> None:
    run_options = config["docker"]["run_options"]
    assert "--env=RAY_AUTH_MODE=token" in run_options
    # The token file reaches every node through file_mounts, at Ray's default token path.
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"


def test_every_node_installs_cuda_torch_then_the_project(config: dict[str, Any], torch_pin: str) -> None:
    setup = config["setup_commands"]
    torch_step = next(i for i, cmd in enumerate(setup) if "torch==" in cmd)
    project_step = next(i for i, cmd in enumerate(setup) if "lors_search-" in cmd)
    assert torch_step < project_step
    assert f'"torch=={torch_pin}"' in setup[torch_step]
    assert re.search(r"--index-url https://download\.pytorch\.org/whl/cu\d+\b", setup[torch_step])
    assert "-c ~/lors/dist/requirements.lock" in setup[project_step]
    assert config["file_mounts"]["~/lors/dist"] == "./dist"
