"""Session-wide fixtures shared by every test package.

`quick_demo_dir`: the quick embedded benchmark (`lors-search demo build --quick`), built once per pytest
session (set LORS_TEST_QUICK_DEMO=DIR to build it there and reuse it across sessions)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["RAY_AUTH_MODE"] = "disabled"  # a local ray.init() in tests must not turn token auth on


@pytest.fixture(scope="session")
def quick_demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lors_search.demo.build import build_demo
    from lors_search.demo.recipe import quick_recipe

    shared = os.environ.get("LORS_TEST_QUICK_DEMO")
    out = Path(shared) if shared else tmp_path_factory.mktemp("demo") / "demo-quick"
    build_demo(out, quick_recipe(), progress=False)
    return out


QUICK_DEMO_TIMEOUT_S = 1800  # the first test to use the fixture pays for the build (~2-7 min on a shared 2-core box)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "quick_demo_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.timeout(QUICK_DEMO_TIMEOUT_S))
            item.add_marker(pytest.mark.slow)  # the build alone takes minutes: never in the fast lane
