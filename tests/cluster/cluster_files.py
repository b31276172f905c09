"""Paths and a YAML loader shared by the cluster-file tests (a uniquely named module, so test
files can import it without colliding with other folders' conftest modules)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CLUSTER_DIR = REPO_ROOT / "cluster"
KUBERAY_DIR = CLUSTER_DIR / "kuberay"
RAY_UP_CONFIGS = ("aws-gpu.yaml", "gcp-gpu.yaml")


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)
