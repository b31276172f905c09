"""Export from a run directory written by a real `lors-search search` (local Ray, Tune, ASHA, worker actors):
every COMPLETE trial re-measures exactly equal, every PRUNED one is refused.

Opt-in (LORS_TEST_RAY_EXPORT=1): starting Ray and running the search takes ~80 s on a shared 2-core machine, beyond the
time budget of the export tests; the in-process run directories of the other tests use the same worker code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from export_fixtures import space_dict
from lors_search.cli import main
from lors_search.rundir import SearchRun

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("LORS_TEST_RAY_EXPORT") != "1", reason="set LORS_TEST_RAY_EXPORT=1 (starts Ray, ~80 s)"),
]


def test_export_every_complete_trial_of_a_real_search(export_bench: Path, tmp_path: Path, capsys) -> None:
    raw = space_dict(export_bench, "real")
    raw["budget"]["num_samples"] = 4
    space = tmp_path / "real.yaml"
    space.write_text(yaml.safe_dump(raw, sort_keys=False))
    env = dict(os.environ, RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    done = subprocess.run(
        [sys.executable, "-m", "lors_search", "search", str(space), "--runs-dir", str(tmp_path / "runs"),
         "--workers", "2", "--no-dashboard"],
        env=env, capture_output=True, text=True, timeout=400,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    run = SearchRun(tmp_path / "runs" / "real")
    states = {number: trial.state for number, trial in run.trials.items()}
    assert "COMPLETE" in states.values()
    for number, state in states.items():
        out = tmp_path / f"export{number}"
        code = main(["export", str(run.root), "--trial", str(number), "--out", str(out), "--device", "cpu"])
        if state == "COMPLETE":
            assert code == 0, capsys.readouterr().err
            assert json.loads((out / "eval_dev.json").read_text())["cells"] == run.trials[number].cells
        else:
            assert code == 2 and not out.exists()
