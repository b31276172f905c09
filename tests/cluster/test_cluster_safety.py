"""docs/cluster.md walks through every step, and nothing in cluster/ weakens the cluster's security.

Security invariants over every file in cluster/: token authentication is never switched off, the
dashboard never binds all interfaces, and no Service exposes it outside the cluster.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from cluster_files import CLUSTER_DIR, DOCS_PAGE, REPO_ROOT

CLUSTER_FILES = sorted(p for p in CLUSTER_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: str(p.relative_to(CLUSTER_DIR)))
def test_no_file_weakens_authentication_or_exposure(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"RAY_AUTH_MODE\s*[=:]\s*[\"']?disabled", text, re.IGNORECASE)
    assert not re.search(r"mode:\s*[\"']?disabled", text)
    assert not re.search(r"dashboard-host[\s=:\"']+0\.0\.0\.0", text)
    assert not re.search(r"\b(LoadBalancer|NodePort)\b", text)


def test_cluster_folder_holds_the_promised_files() -> None:
    names = {str(p.relative_to(CLUSTER_DIR)) for p in CLUSTER_FILES}
    assert {
        "aws-gpu.yaml",
        "gcp-gpu.yaml",
        "Dockerfile",
        "prometheus.yml",
        "grafana/lors_search_dashboard.json",
        "kuberay/raycluster.yaml",
        "kuberay/rayjob-search.yaml",
    } <= names


@pytest.fixture(scope="module")
def docs() -> str:
    return DOCS_PAGE.read_text(encoding="utf-8")


def test_every_cluster_file_named_in_the_docs_exists(docs: str) -> None:
    named = {m.rstrip(".,:)`") for m in re.findall(r"cluster/[\w./-]+", docs) if "*" not in m}
    named.discard("cluster/")
    assert named, "the walkthrough names no cluster file"
    missing = sorted(n for n in named if not (REPO_ROOT / n).exists())
    assert not missing


def test_every_cluster_file_is_mentioned_in_the_docs(docs: str) -> None:
    for path in CLUSTER_FILES:
        if path.name.endswith(".dockerignore"):
            continue  # read by docker build itself
        assert str(path.relative_to(REPO_ROOT)) in docs, path


@pytest.mark.parametrize(
    "step",
    [
        "ray up -y cluster/aws-gpu.yaml",
        "kubectl apply -f cluster/kuberay/pvc.yaml -f cluster/kuberay/raycluster.yaml",
        "ray get-auth-token --generate",
        "ray dashboard cluster/aws-gpu.yaml",
        "kubectl port-forward svc/lors-search-head-svc 8265:8265",
        "export RAY_AUTH_MODE=token",
        "RAY_AUTH_TOKEN=",
        "ray job submit --address http://127.0.0.1:8265 --working-dir .",
        "lors-search search search_spaces/",
        "ray job logs -f",
        "--resume",
        "lors-search export runs/",
        "optuna-dashboard sqlite:///runs/",
        "cluster/grafana/lors_search_dashboard.json",
        "ray down -y cluster/aws-gpu.yaml",
    ],
)
def test_the_walkthrough_shows_each_step(docs: str, step: str) -> None:
    assert step in docs


def test_the_head_service_name_matches_the_raycluster(docs: str) -> None:
    # KubeRay names the head Service <RayCluster name>-head-svc.
    name = yaml.safe_load((CLUSTER_DIR / "kuberay" / "raycluster.yaml").read_text())["metadata"]["name"]
    assert f"svc/{name}-head-svc" in docs
