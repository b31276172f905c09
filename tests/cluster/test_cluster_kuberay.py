"""The KubeRay manifests in cluster/kuberay/: required fields, pinned versions, GPUs, exposure, auth.

No Kubernetes API server is involved; the checks follow the ray.io/v1 field names of KubeRay's
CRDs (RayCluster, RayJob) and the core PersistentVolumeClaim.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cluster_files import CLUSTER_DIR, KUBERAY_DIR, load_yaml

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


def _gpu_limit(container: dict[str, Any]) -> int:
    return int(container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))


def test_the_expected_manifests_exist() -> None:
    assert [p.name for p in MANIFESTS] == ["pvc.yaml", "raycluster.yaml", "rayjob-search.yaml"]


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

    def test_head_has_no_gpu_and_owns_the_run_store(self, source: str, spec: dict[str, Any]) -> None:
        head = spec["headGroupSpec"]
        (container,) = _containers(head["template"])
        assert _gpu_limit(container) == 0
        assert head["rayStartParams"]["num-cpus"] == "0"
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert mounts["lors-store"] == "/data/lors"
        volumes = {v["name"]: v for v in head["template"]["spec"]["volumes"]}
        claim = volumes["lors-store"]["persistentVolumeClaim"]["claimName"]
        assert claim == _load("pvc.yaml")["metadata"]["name"]

    def test_an_autoscaling_gpu_worker_group(self, source: str, spec: dict[str, Any]) -> None:
        assert spec["enableInTreeAutoscaling"] is True
        gpu_groups = [
            g for g in spec["workerGroupSpecs"] if all(_gpu_limit(c) >= 1 for c in _containers(g["template"]))
        ]
        assert len(gpu_groups) == 1
        (group,) = gpu_groups
        assert group["minReplicas"] == 0 <= group["replicas"] <= group["maxReplicas"]
        assert group["maxReplicas"] >= 1
        (container,) = _containers(group["template"])
        resources = container["resources"]
        assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"]
        tolerations = group["template"]["spec"]["tolerations"]
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations

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


def test_run_store_claim_is_a_single_writer_block_volume() -> None:
    pvc = _load("pvc.yaml")
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert pvc["spec"]["resources"]["requests"]["storage"].endswith("Gi")
