"""Where the embedded benchmark lives by default: `$LORS_DEMO_DIR` if set, else `~/.cache/lors_search/demo`
(`demo-quick` for the quick build). Search spaces expand `{demo}` / `{demo-quick}` through this function."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VARIABLE = "LORS_DEMO_DIR"


def default_demo_dir(quick: bool) -> Path:
    """The demo directory: `$LORS_DEMO_DIR` when set (for both builds), else `~/.cache/lors_search/demo`
    or `~/.cache/lors_search/demo-quick`."""
    override = os.environ.get(ENV_VARIABLE)
    if override:
        return Path(override).expanduser().resolve()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(cache) / "lors_search" / ("demo-quick" if quick else "demo")


def space_places() -> dict[str, Path]:
    """What `{demo}` and `{demo-quick}` stand for in the shipped search spaces: the default demo directories
    (the rule the demo build uses); pass it to `load_search_space(..., places=...)`."""
    return {"{demo}": default_demo_dir(False), "{demo-quick}": default_demo_dir(True)}
