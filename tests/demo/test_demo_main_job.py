"""`lors-search demo`, the README's main job, end to end on the quick build: reuse the build, search
`smoke-methods.yaml` on local Ray, select the winner on the held-out dev clips, export it (verified against
the trial), write the report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from lors_search.cli import main
from lors_search.demo.main_job import run_name, space_for_languages
from lors_search.errors import UserError
from lors_search.space import shipped_space


def test_space_for_languages_keeps_only_the_build_languages() -> None:
    raw = space_for_languages(shipped_space("demo"), ["de", "it"])
    assert [expert["name"] for expert in raw["experts"]] == ["de", "it"]
    assert raw["data"]["languages"] == ["de", "it"]
    with pytest.raises(UserError, match=re.escape("smoke.yaml has no expert for ca")):
        space_for_languages(shipped_space("smoke"), ["ca", "de"])


def test_run_names_are_fresh_per_second() -> None:
    assert run_name(0.0) != run_name(1.0)
    assert run_name(0.0).startswith("demo-")


@pytest.mark.slow
def test_main_job_on_the_quick_build(quick_demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs, exports = tmp_path / "runs", tmp_path / "exports"
    argv = ["demo", "--quick", "--out", str(quick_demo_dir), "--name", "mj",
            "--runs-dir", str(runs), "--exports-dir", str(exports)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "reused" in out and "search finished" in out
    # Every phase says its estimate and end; the job closes with each phase's wall time.
    assert len([line for line in out.splitlines() if line.startswith("lors-search demo: ") and "until about" in line]) == 5
    assert "phase     wall time    estimate" in out and json.loads((quick_demo_dir / "main_job.json").read_text())["quick"]
    # Only what is true of this job: it exports the winner itself (no "next:" hint, no best.yaml as the config).
    assert "next: lors-search" not in out and "best merge config" not in out and "winner.yaml" in out
    # None of Ray's, Tune's or Optuna's noise, and one unit for the ASR error.
    for noise in ("GCS", "Configuration for experiment", "TensorBoard", "A new study created", "Passing `generation_config`"):
        assert noise not in out and noise not in captured.err, noise
    assert "references from the score cache: base, de, es, fr" in out

    selection = json.loads((runs / "mj" / "selection.json").read_text())
    exported = json.loads((exports / "mj" / "eval_dev.json").read_text())
    assert (exports / "mj" / "model.safetensors").is_file()
    merged = yaml.safe_load((exports / "mj" / "merge_config.yaml").read_text())
    # The export is the selection's winner, not the search's best (which the held-out clips may overrule).
    assert merged == yaml.safe_load((runs / "mj" / "winner.yaml").read_text())
    assert selection["winner"] == exported.get("trial", selection["winner"])
    winner = next(c for c in selection["candidates"] if c["trial"] == selection["winner"])
    assert all(winner["selection_objective"] >= c["selection_objective"] for c in selection["candidates"])
    assert (runs / "mj" / "report.html").is_file()
    comparison = json.loads((runs / "mj" / "report_files" / "comparison.json").read_text())
    best_row = next(row for row in comparison if row["kind"] == "best")
    assert set(best_row["test"]) == set(best_row["dev"]) and best_row["test"]
    assert not list(tmp_path.glob("**/.*partial*"))
