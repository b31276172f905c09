"""The shipped smoke space (search_spaces/smoke.yaml) against the quick embedded demo, through the CLI: the
search a user runs first after `lors-search demo build --quick`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lors_search.cli import main

from search_fixtures import REPO


def test_smoke_yaml_on_the_quick_demo(ray_session, quick_demo_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("LORS_DEMO_DIR", str(quick_demo_dir))
    runs = tmp_path / "runs"
    code = main(["search", str(REPO / "search_spaces" / "smoke.yaml"), "--runs-dir", str(runs), "--workers", "2"])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    run_dir = runs / "smoke"
    table = pd.read_parquet(run_dir / "trials.parquet")
    assert len(table) == 6 and set(table["state"]) <= {"COMPLETE", "PRUNED"}
    best = json.loads((run_dir / "best.json").read_text())
    assert set(best["metrics"]) == {f"{lang}/{task}" for lang in ("de", "es", "fr") for task in ("transcribe", "translate")}
    assert (run_dir / "best.yaml").is_file() and "best trial #" in out
