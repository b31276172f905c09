"""The run-directory module alone, without Ray: typed trial records and trials.parquet (an old file still reads
and rewrites to the same table), run.json's rung keys as ints, the best-trial rule with honest selection's winner
first, best.json's content, and that the module imports nothing of the layers above it."""

from __future__ import annotations

import ast
import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from lors_search.errors import UserError
from lors_search.rundir import (
    RunDir,
    SearchRun,
    TrialRecord,
    TrialTable,
    best_trial,
    new_run_record,
    ranked,
    read_selection,
    winner,
    write_best,
    write_selection,
)

DATA = Path(__file__).parent / "data"
# Written by the code before lors_search.rundir existed (commit 6a9f566: RunRecorder.build_row + TrialTable.add,
# two objectives, a methods space whose per-method parameters leave NaN in the others' columns): trials 0, 2, 4
# COMPLETE (2 and 4 tie on the objective), 1 PRUNED with the highest score, 3 FAILED after one retry.
OLD_TRIALS = DATA / "trials-6a9f566.parquet"
OLD_BEST = DATA / "best-6a9f566.json"  # what that code wrote to best.json for trial 2
CELLS = {"de/transcribe": {"wer": 0.5, "cer": 0.25, "n": 3}, "de/translate": {"bleu": 30.0, "chrf": 50.0, "n": 3}}


def _record(number: int, state: str, objective: float | None, n: int | None = 8, **changes) -> TrialRecord:
    return TrialRecord(number=number, state=state, objective=objective, objectives={"score": objective},
                       n_per_language=n, params={"x": 0.5}, cells=CELLS, merge_config_yaml="x: 1\n", **changes)


def test_an_old_trials_parquet_reads_as_typed_records() -> None:
    records = TrialTable(OLD_TRIALS).records
    assert sorted(records) == [0, 1, 2, 3, 4]
    first = records[0]
    assert (first.state, first.objective, first.n_per_language) == ("COMPLETE", 0.75, 8)
    assert first.objectives == {"normalized_performance": 0.75, "asr_wer": 0.3}
    assert first.params == {"method": "lors", "density": 0.2, "rank_ratio": 0.01, "scale": 0.5}
    assert records[1].params == {"method": "ties", "density": 0.4, "scale": 1.0}  # NaN columns of other methods dropped
    assert first.cells["de/translate"] == {"bleu": 20.0, "chrf": 40.0, "n": 4}
    assert all(type(cells["n"]) is int for cells in first.cells.values())  # a float column in the file
    assert type(first.n_per_language) is int and type(first.rows_decoded) is int
    assert first.merge_config().method == "lors" and first.tune_trial_id == "t0"
    failed = records[3]
    assert failed.state == "FAIL" and failed.retries == 1 and failed.cells == {}
    assert failed.objective is None and failed.objectives == {"normalized_performance": None, "asr_wer": None}
    assert failed.n_per_language is None and failed.merge_seconds is None and failed.rows_decoded is None
    table = TrialTable(OLD_TRIALS)
    assert table.counts() == {"COMPLETE": 3, "PRUNED": 1, "FAIL": 1}
    assert table.best("max").number == 2  # not the PRUNED 0.9; the tie with 4 goes to the earlier trial
    assert table.best("min").number == 0


def test_rewriting_an_old_trials_parquet_keeps_its_content(tmp_path: Path) -> None:
    copy = tmp_path / "trials.parquet"
    shutil.copy(OLD_TRIALS, copy)
    table = TrialTable(copy)
    assert table.add(_record(5, "PRUNED", 0.1, n=4))  # rewrites the whole file
    old, new = pd.read_parquet(OLD_TRIALS), pd.read_parquet(copy)
    pd.testing.assert_frame_equal(new[new["trial"] < 5][list(old.columns)], old)
    assert list(new.columns[: len(old.columns)]) == list(old.columns)


def test_records_round_trip_through_trials_parquet(tmp_path: Path) -> None:
    path = tmp_path / "trials.parquet"
    table = TrialTable(path)
    written = [
        _record(0, "COMPLETE", 0.5, tune_trial_id="a", merge_seconds=0.5, eval_seconds=1.0, trial_seconds=2.0,
                rows_decoded=12, finished_at="2026-11-29T17:00:00+00:00"),
        _record(1, "PRUNED", 0.9, n=3),  # a lucky low-fidelity score never becomes the best
        _record(2, "COMPLETE", 0.7),
        TrialRecord(number=3, state="FAIL", objectives={"score": None}, params={"x": 0.1}, retries=2),
    ]
    for record in written:
        assert table.add(record)
    assert not table.add(_record(2, "COMPLETE", 0.1))  # a re-run of a recorded trial is ignored
    again = TrialTable(path)
    assert list(again.records.values()) == written
    assert again.counts() == {"COMPLETE": 2, "PRUNED": 1, "FAIL": 1}
    assert again.best("max").number == 2 and again.best("min").number == 0
    assert not list(tmp_path.glob(".trials.parquet.*"))  # no temporary file left
    # The documented columns (docs/search.md), one row per trial.
    frame = pd.read_parquet(path)
    assert list(frame.columns[:7]) == ["trial", "tune_trial_id", "state", "objective", "objective:score",
                                       "n_per_language", "param:x"]
    assert frame.loc[0, "metric:de/translate:chrf"] == 50.0 and math.isnan(frame.loc[3, "objective"])


def test_unknown_columns_are_kept_and_a_bad_state_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "trials.parquet"
    pd.DataFrame([{**_record(0, "COMPLETE", 0.5).to_row(), "note": "by hand"}]).to_parquet(path, index=False)
    table = TrialTable(path)
    assert table.records[0].extra == {"note": "by hand"}
    table.add(_record(1, "COMPLETE", 0.6))
    assert TrialTable(path).records[0].extra == {"note": "by hand"} and TrialTable(path).records[1].extra == {"note": None}
    pd.DataFrame([{**_record(0, "COMPLETE", 0.5).to_row(), "state": "RUNNING"}]).to_parquet(path, index=False)
    with pytest.raises(UserError, match="unknown state 'RUNNING'"):
        TrialTable(path)


def test_a_failed_write_forgets_the_record(tmp_path: Path) -> None:
    table = TrialTable(tmp_path / "missing" / "trials.parquet")
    (tmp_path / "missing").write_text("a file where the directory should be")
    with pytest.raises(OSError):
        table.add(_record(0, "COMPLETE", 0.5))
    assert table.records == {}  # not on disk, so a resumed run runs it again


def test_rung_keys_are_ints_in_memory_and_strings_only_in_json(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path)
    per_rung = {3: {"base": {"de/transcribe": {"wer": 0.5}}}, 12: {"base": {"de/transcribe": {"wer": 0.4}}}}
    run = new_run_record(name="r", study_name="r-1", space_source="s.yaml", objectives=[("score", "max")],
                         data={}, fidelity=[3, 12])
    run.update(references=per_rung[12], references_per_rung=per_rung)
    run_dir.write_run(run)
    assert list(json.loads(run_dir.run_json.read_text())["references_per_rung"]) == ["3", "12"]
    assert run_dir.read_run()["references_per_rung"] == per_rung
    assert run_dir.update_run(status="finished")["references_per_rung"] == per_rung
    assert SearchRun(tmp_path).run["references_per_rung"] == per_rung


def test_the_winner_is_selections_else_the_best_full_fidelity_trial() -> None:
    trials = {
        0: _record(0, "COMPLETE", 0.5),
        1: _record(1, "COMPLETE", 0.9, n=3),  # COMPLETE below the last rung (e.g. rungs changed): not full fidelity
        2: _record(2, "COMPLETE", 0.7),
        3: _record(3, "COMPLETE", 0.7),
        4: _record(4, "COMPLETE", math.inf),  # not finite: never the best
    }
    assert [t.number for t in ranked(trials.values(), "max", [3, 8])] == [2, 3, 0]
    assert [t.number for t in ranked(trials.values(), "min", [3, 8])] == [0, 2, 3]
    assert best_trial(trials.values(), "max").number == 1  # without the rungs, COMPLETE is full fidelity
    assert winner(trials, "max", [3, 8]).number == 2
    assert winner(trials, "max", [3, 8], {"winner": 0}).number == 0  # honest selection takes precedence
    assert winner(trials, "max", [3, 8], {"winner": 9}).number == 2  # a winner not recorded: the rule again
    assert best_trial([], "max") is None


def test_search_run_takes_the_selection_winner(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path)
    run_dir.write_run(new_run_record(name="r", study_name="r-1", space_source="", objectives=[
        ("normalized_performance", "max"), ("asr_wer", "min")], data={}, fidelity=[4, 8]))
    shutil.copy(OLD_TRIALS, run_dir.trials_parquet)
    run = SearchRun(tmp_path)
    assert run.best_trial().number == 2 and run.selection is None
    assert run.describe_counts() == "3 complete, 1 pruned, 1 failed"
    with pytest.raises(UserError, match="trial 1 was PRUNED"):
        run.trial(1)
    winner_yaml = write_selection(tmp_path, {"winner": 4, "candidates": []}, run.trials[4].merge_config_yaml)
    assert winner_yaml == run_dir.winner_yaml and winner_yaml.read_text() == run.trials[4].merge_config_yaml
    assert read_selection(tmp_path) == {"winner": 4, "candidates": []}
    assert SearchRun(tmp_path).best_trial().number == 4
    assert run_dir.selection_json.stat().st_mode & 0o777 == 0o644


def test_best_json_has_the_content_it_had(tmp_path: Path) -> None:
    record = TrialTable(OLD_TRIALS).records[2]
    write_best(RunDir(tmp_path), replace(record))
    assert json.loads((tmp_path / "best.json").read_text()) == json.loads(OLD_BEST.read_text())
    assert (tmp_path / "best.yaml").read_text() == record.merge_config_yaml


def test_the_module_imports_nothing_above_it() -> None:
    package = Path(__file__).parents[2] / "lors_search" / "rundir"
    above = ("lors_search.search", "lors_search.export", "lors_search.report", "lors_search.cli",
             "lors_search.runtime", "pickle", "cloudpickle")
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(above), f"{path.name} imports {name}"
