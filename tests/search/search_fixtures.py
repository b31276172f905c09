"""A tiny benchmark for the search tests (used when the demo helper's quick demo is not available): an
eSpeak NG corpus of short numbers in two languages, a tiny Whisper base trained on it for a few seconds and
one expert per language fine-tuned from the base, laid out like a demo directory (base/, experts/<lang>/,
data/). A uniquely named module so test files can import it beside other folders' fixtures."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
if __name__ == "__main__":  # run as a script (see the end): no tests/conftest.py has put tests/ on sys.path
    sys.path.insert(0, str(HERE.parent))

from tiny_bench_kit import build_bench, corpus_spec, lors_ranges  # noqa: E402

LANGUAGES = ("de", "es")
CORPUS_SPEC = corpus_spec(LANGUAGES, {"train": 40, "dev": 12, "test": 4})


def build_tiny_bench(root: Path) -> Path:
    """Build (once; reused when `root/done` exists) and return `root`: the shared tiny bench, without the
    multitask model the search tests never compare against."""
    return build_bench(root, CORPUS_SPEC)


def space_dict(bench: Path, **overrides: Any) -> dict[str, Any]:
    """A small space over the tiny bench: whole-stack groups, 2 rungs, 4 trials."""
    raw: dict[str, Any] = {
        "name": "tiny",
        "base": str(bench / "base"),
        "experts": [
            {"name": "de", "path": str(bench / "experts" / "de"), "language": "de"},
            {"name": "es", "path": str(bench / "experts" / "es"), "language": "es"},
        ],
        "data": {"path": str(bench / "data"), "split": "dev", "batch_size": 16},
        "method": "lors",
        "groups": {"encoder": {"size": "all"}, "decoder": {"size": "all"}, "modules": "shared"},
        **lors_ranges(),
        "budget": {"num_samples": 4, "max_failures": 2},
        "fidelity": {"n_per_language": [3, None], "reduction_factor": 2},
        "searcher": {"algorithm": "tpe", "seed": 0, "n_startup_trials": 3},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return raw


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", TUNE_GLOBAL_CHECKPOINT_S="2")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(HERE), env.get("PYTHONPATH", "")])
    return env


if __name__ == "__main__":
    import time

    start = time.perf_counter()
    print(build_tiny_bench(Path(sys.argv[1])), f"{time.perf_counter() - start:.1f} s")
