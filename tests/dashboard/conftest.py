"""Dashboard tests: a private local Ray head (dashboard on loopback, token auth off for tests only)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dashboard_head import RayHead, start_head, stop_head


@pytest.fixture(scope="module")
def ray_head() -> Iterator[RayHead]:
    head = start_head(num_cpus=2)
    try:
        yield head
    finally:
        stop_head(head)
