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


# Tests that use these (directly or through another fixture) are in the full suite only, not the fast lane
# (`pytest -m "not slow"`): on a 2-core machine the quick demo build takes minutes, a real Ray (started in-process
# or as a head) tens of seconds, and each folder's tiny trained bench (evaluation's `bench`, export's and report's
# shared one, search's `tiny_bench`) 30 s to minutes of training and decoding.
SLOW_FIXTURES = ("quick_demo_dir", "ray_session", "ray_head", "bench", "export_bench", "report_bench", "tiny_bench")
QUICK_DEMO_TIMEOUT_S = 1800  # the first test to use the fixture pays for the build (~2-7 min on a shared 2-core box)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "quick_demo_dir" in fixtures:
            item.add_marker(pytest.mark.timeout(QUICK_DEMO_TIMEOUT_S))
        if any(name in fixtures for name in SLOW_FIXTURES):
            item.add_marker(pytest.mark.slow)
