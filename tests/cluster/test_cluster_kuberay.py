"""The KubeRay manifests in cluster/kuberay/ parse as Kubernetes objects of KubeRay's kinds, with the pinned Ray,
the CRD's field types, token authentication and a cluster-internal dashboard.

No Kubernetes API server is involved: each RayCluster spec (the RayCluster's and the RayJob's) is read by the
code Ray's KubeRay autoscaler runs on a live cluster's custom resource, which derives and validates its node
types from the CR; the other checks follow the ray.io/v1 field names of KubeRay's CRDs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cluster_files import CLUSTER_DIR, KUBERAY_DIR, load_yaml
from ray.autoscaler._private.kuberay.autoscaling_config import _derive_autoscaling_config_from_ray_cr

MANIFESTS = sorted(KUBERAY_DIR.glob("*.yaml"))


def _load(name: str) -> dict[str, Any]:
    manifest = load_yaml(KUBERAY_DIR / name)
    assert isinstance(manifest, dict)
    return manifest


def _ray_cluster_specs() -> list[tuple[str, dict[str, Any]]]:
    """Every RayCluster spec: the RayCluster's own and the one embedded in the RayJob."""
    return [
        ("raycluster.yaml", _load("raycluster.yaml")["spec"]),
        ("rayjob-search.yaml", _load("rayjob-search.yaml")["spec"]["rayClusterSpec"]),
    ]


def _containers(pod_template: dict[str, Any]) -> list[dict[str, Any]]:
    return pod_template["spec"]["containers"]


@pytest.mark.parametrize("source, spec", _ray_cluster_specs(), ids=lambda v: v if isinstance(v, str) else "")
def test_rays_kuberay_autoscaler_reads_a_cpu_head_and_an_autoscaling_gpu_group(
    source: str, spec: dict[str, Any]
) -> None:
    # What the autoscaler reads from the API server: the CR with the namespace Kubernetes fills in.
    config = _derive_autoscaling_config_from_ray_cr({"metadata": {"name": "lors", "namespace": "default"}, "spec": spec})
    types = config["available_node_types"]
    head = types.pop(config["head_node_type"])
    assert head["resources"].get("GPU", 0) == 0 and head["resources"]["CPU"] == 0  # the head runs no trials
    (gpu,) = [node for node in types.values() if node["resources"].get("GPU", 0) >= 1]
    assert gpu["min_workers"] == 0 < gpu["max_workers"] <= config["max_workers"]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_has_the_kubernetes_object_fields(path: Path) -> None:
    manifest = load_yaml(path)
    assert set(manifest) == {"apiVersion", "kind", "metadata", "spec"}
    assert manifest["metadata"]["name"]
    assert isinstance(manifest["spec"], dict) and manifest["spec"]


def test_kinds_and_api_versions() -> None:
    kinds = {p.name: (load_yaml(p)["apiVersion"], load_yaml(p)["kind"]) for p in MANIFESTS}
    assert kinds == {
        "pvc.yaml": ("v1", "PersistentVolumeClaim"),
        "raycluster.yaml": ("ray.io/v1", "RayCluster"),
        "rayjob-search.yaml": ("ray.io/v1", "RayJob"),
    }


@pytest.mark.parametrize("source, spec", _ray_cluster_specs(), ids=lambda v: v if isinstance(v, str) else "")
class TestRayClusterSpec:
    def test_ray_version_is_the_pinned_one(self, source: str, spec: dict[str, Any], ray_version: str) -> None:
        assert spec["rayVersion"] == ray_version

    def test_images_carry_the_pinned_ray_and_python(
        self, source: str, spec: dict[str, Any], ray_version: str, python_tag: str
    ) -> None:
        templates = [spec["headGroupSpec"]["template"]] + [g["template"] for g in spec["workerGroupSpecs"]]
        images = {c["image"] for t in templates for c in _containers(t)}
        assert len(images) == 1, images  # head and workers run the same image
        (image,) = images
        assert image.endswith(f":0.1.0-ray{ray_version}-{python_tag}-gpu"), image

    def test_token_authentication_through_auth_options(self, source: str, spec: dict[str, Any]) -> None:
        assert spec["authOptions"] == {"mode": "token", "secretName": "lors-ray-token"}

    def test_dashboard_is_cluster_internal(self, source: str, spec: dict[str, Any]) -> None:
        head = spec["headGroupSpec"]
        assert head["serviceType"] == "ClusterIP"
        assert head.get("enableIngress", False) is False
        assert head.get("headService", {}).get("spec", {}).get("type", "ClusterIP") == "ClusterIP"
        ports = {p["name"]: p["containerPort"] for p in _containers(head["template"])[0]["ports"]}
        assert ports["dashboard"] == 8265
        for container in _containers(head["template"]):
            assert all("hostPort" not in p for p in container.get("ports", []))

    def test_ray_start_params_are_strings(self, source: str, spec: dict[str, Any]) -> None:
        # The CRD types rayStartParams as map[string]string: a bare YAML number is rejected.
        groups = [spec["headGroupSpec"]] + spec["workerGroupSpecs"]
        for group in groups:
            assert all(isinstance(v, str) for v in group["rayStartParams"].values()), group["rayStartParams"]
            assert group["rayStartParams"]["metrics-export-port"] == "8080"


def test_both_cluster_specs_have_the_same_shape() -> None:
    """The RayJob's cluster is the RayCluster's, so what the walkthrough says of one holds for both."""
    (_, standalone), (_, embedded) = _ray_cluster_specs()
    assert standalone == embedded


def test_rayjob_runs_search_then_export_and_cleans_up(ray_version: str) -> None:
    spec = _load("rayjob-search.yaml")["spec"]
    entrypoint = spec["entrypoint"]
    # KubeRay pastes the entrypoint into a shell line of its own: control operators there would
    # run in the submitter pod instead of the job. One plain command only.
    for operator in ("&&", "||", ";", "|", "$(", "`", ">", "<", "\n"):
        assert operator not in entrypoint, operator
    words = entrypoint.split()
    assert words[:2] == ["bash", "/opt/lors_search/src/cluster/search-and-export.sh"]
    assert (CLUSTER_DIR / "search-and-export.sh").is_file()
    assert len(words) == 4 and words[2].startswith("/opt/lors_search/src/search_spaces/")
    assert words[2].endswith(".yaml")
    assert spec["shutdownAfterJobFinishes"] is True
    assert isinstance(spec["ttlSecondsAfterFinished"], int)
    assert isinstance(spec["backoffLimit"], int) and spec["backoffLimit"] >= 1
    assert isinstance(spec["submitterConfig"]["backoffLimit"], int)
