"""Nothing in cluster/ weakens the cluster's security.

Security invariants over every file in cluster/: token authentication is never switched off, the
dashboard never binds all interfaces, and no Service exposes it outside the cluster.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cluster_files import CLUSTER_DIR

CLUSTER_FILES = sorted(p for p in CLUSTER_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: str(p.relative_to(CLUSTER_DIR)))
def test_no_file_weakens_authentication_or_exposure(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"RAY_AUTH_MODE\s*[=:]\s*[\"']?disabled", text, re.IGNORECASE)
    assert not re.search(r"mode:\s*[\"']?disabled", text)
    assert not re.search(r"dashboard-host[\s=:\"']+0\.0\.0\.0", text)
    assert not re.search(r"\b(LoadBalancer|NodePort)\b", text)
