"""Resume trusts only the run directory's data files: a pickle planted where Ray Tune keeps its state is never
loaded, the budget counts finished trials exactly, and --num-samples may repeat or extend the budget, never
shrink it. Plus the pieces: the continuation plan, ASHA's rebuilt rungs, the per-trial seeded sampler and the
process reaper."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from lors_search.cli import main
from lors_search.errors import UserError
from lors_search.runtime import reaper
from lors_search.search.continuation import plan_continuation, seed_rung_records, study_counts
from lors_search.search.driver import resumed_budget
from lors_search.rundir import TrialRecord, TrialTable
from lors_search.search.scheduler import SeedFirstASHA
from lors_search.search.searcher import FIDELITY_KEY
from lors_search.search.seeding import TrialSeededSampler
from lors_search.space.schema import Searcher


class Planted:
    """Unpickling this writes a marker file: what a malicious run directory would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def load_study(run_dir: Path) -> optuna.Study:
    run = json.loads((run_dir / "run.json").read_text())
    return optuna.load_study(study_name=run["study_name"], storage=f"sqlite:///{run_dir / 'study.db'}")


def test_resume_never_unpickles_the_run_directory_and_extends_the_budget(ray_session, write_space, tmp_path, capsys) -> None:
    space = write_space("planted", budget={"num_samples": 3}, fidelity={"n_per_language": [None]})
    runs = tmp_path / "runs"
    assert main(["search", str(space), "--runs-dir", str(runs), "--workers", "1"]) == 0
    run_dir = runs / "planted"
    marker = tmp_path / "marker"
    payload = pickle.dumps(Planted(marker))
    # Everywhere Tune 2.60 reads pickles on restore: the tuner, the searcher and scheduler state, trial state.
    experiments = [run_dir / "tune", *(p for p in (run_dir / "tune").iterdir() if p.is_dir())]
    for folder in experiments:
        (folder / "tuner.pkl").write_bytes(payload)
        (folder / "searcher-state-2026-01-01_00-00-00.pkl").write_bytes(payload)
        (folder / "scheduler-state.pkl").write_bytes(payload)
        (folder / "trainable.pkl").write_bytes(payload)
    capsys.readouterr()

    assert main(["search", str(space), "--runs-dir", str(runs), "--resume", "--num-samples", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--num-samples 2 is smaller than the run's budget of 3" in err[0]

    assert main(["search", str(space), "--runs-dir", str(runs), "--resume", "--num-samples", "3"]) == 0
    assert "3 of 3 trials finished; running 0 again and 0 new" in capsys.readouterr().out
    assert main(["search", str(space), "--runs-dir", str(runs), "--resume", "--num-samples", "5",
                 "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert not marker.exists(), "a pickle from the run directory was loaded"
    assert "3 of 5 trials finished; running 0 again and 2 new" in out
    table = pd.read_parquet(run_dir / "trials.parquet")
    assert table["trial"].tolist() == [0, 1, 2, 3, 4]
    study = load_study(run_dir)
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3, 4]
    counts = study_counts(study)
    assert sum(counts.values()) == 5
    assert "search finished" in out and f"{counts['FAIL']} failed)" in out
    assert json.loads((run_dir / "run.json").read_text())["num_samples"] == 5


def test_resumed_budget_accepts_the_same_or_a_larger_one() -> None:
    assert resumed_budget({"num_samples": 10}, None, 4) == 10
    assert resumed_budget({"num_samples": 10}, 10, 4) == 10
    assert resumed_budget({"num_samples": 10}, 12, 4) == 12
    with pytest.raises(UserError, match="smaller than the run's budget of 10"):
        resumed_budget({"num_samples": 10}, 9, 4)


def _study_with(states: list[TrialState]) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    for number, state in enumerate(states):
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        trial.report(0.1 * number, step=1)
        if state == TrialState.COMPLETE:
            trial.report(0.2 * number, step=2)
            study.tell(trial, 0.2 * number)
        elif state != TrialState.RUNNING:
            study.tell(trial, None, state=state)
    return study


def test_continuation_reruns_asked_but_unrecorded_trials_and_counts_the_budget(tmp_path: Path) -> None:
    study = _study_with([TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE, TrialState.RUNNING,
                         TrialState.RUNNING])
    table = TrialTable(tmp_path / "trials.parquet")
    # 0 and 1 recorded; 2 told to the study but killed before its row; 3 running; 4 recorded but not told.
    for number, state, value in ((0, "COMPLETE", 0.0), (1, "PRUNED", None), (4, "COMPLETE", 0.9)):
        table.add(TrialRecord(number=number, state=state, objective=value, objectives={"score": value}))
    plan = plan_continuation(study, TrialTable(table.path), 10, ["score"], (1.0, 2.0))
    assert plan.redo == (2, 3) and plan.asked == 5 and plan.new == 5 and plan.to_run == 7
    assert study.trials[4].state == TrialState.COMPLETE and study.trials[4].value == 0.9
    assert plan.rung_records == {1.0: {0: 0.0, 1: 0.1, 4: 0.4}, 2.0: {0: 0.0}}
    assert study_counts(study) == {"COMPLETE": 3, "PRUNED": 1, "FAIL": 0}
    assert plan_continuation(study, TrialTable(table.path), 3, ["score"], (1.0, 2.0)).new == 0


def test_asha_rungs_are_rebuilt_with_the_mode_sign() -> None:
    scheduler = SeedFirstASHA(time_attr=FIDELITY_KEY, metric="wer", mode="min", max_t=2.0, grace_period=1.0,
                              reduction_factor=2)
    seed_rung_records(scheduler, {1.0: {0: 0.3, 1: 0.5}, 2.0: {0: 0.2}})
    rungs = {milestone: recorded for milestone, recorded in scheduler._brackets[0]._rungs}
    assert rungs[1.0] == {"earlier-0": -0.3, "earlier-1": -0.5} and rungs[2.0] == {"earlier-0": -0.2}


def test_rung_records_go_back_into_their_methods_rungs() -> None:
    scheduler = SeedFirstASHA(time_attr=FIDELITY_KEY, metric="objective", mode="max", max_t=2.0,
                              grace_period=1.0, reduction_factor=2, group_key="method")
    params = {0: {"method": "iso_c"}, 1: {"method": "ties"}, 2: {"method": "iso_c"}}
    seed_rung_records(scheduler, {1.0: {0: 0.9, 1: 0.4, 2: 0.8}, 2.0: {0: 0.85}}, params)
    iso = {milestone: recorded for milestone, recorded in scheduler.bracket_for("iso_c")._rungs}
    ties = {milestone: recorded for milestone, recorded in scheduler.bracket_for("ties")._rungs}
    assert iso[1.0] == {"earlier-0": 0.9, "earlier-2": 0.8} and iso[2.0] == {"earlier-0": 0.85}
    assert ties[1.0] == {"earlier-1": 0.4} and ties[2.0] == {}


def test_trial_seeded_sampler_draws_depend_on_the_trial_number_only() -> None:
    def run(study: optuna.Study, n: int) -> list[dict]:
        out = []
        for _ in range(n):
            trial = study.ask()
            params = {"x": trial.suggest_float("x", 0.0, 1.0), "r": trial.suggest_int("r", 1, 64, log=True)}
            study.tell(trial, params["x"] - 0.01 * params["r"])
            out.append(params)
        return out

    searcher = Searcher(algorithm="tpe", seed=3, n_startup_trials=2)
    whole = run(optuna.create_study(sampler=TrialSeededSampler(searcher), direction="maximize"), 5)
    # A driver killed after 2 trials; the next one continues the study with a new sampler.
    study = optuna.create_study(sampler=TrialSeededSampler(searcher), direction="maximize")
    first = run(study, 2)
    study.sampler = TrialSeededSampler(searcher)
    assert first + run(study, 3) == whole
    assert len({p["x"] for p in whole}) == 5
    pickle.loads(pickle.dumps(TrialSeededSampler(searcher)))  # Tune checkpoints the searcher that holds it


def test_reaper_ends_recorded_processes_only_if_they_are_the_same_process(tmp_path: Path) -> None:
    ignore_sigterm = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    sleeper = subprocess.Popen([sys.executable, "-c", ignore_sigterm])
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.3)
        record = tmp_path / "ray-processes.json"
        entries = reaper.snapshot(sleeper.pid)
        reused = dict(reaper.snapshot(other.pid)[0], started=1.0)  # same PID, another start time: not ours
        record.write_text(json.dumps({"driver": None, "processes": [*entries, reused]}))
        assert reaper.reap(record) == [sleeper.pid]  # SIGTERM ignored: SIGKILL after the wait
        sleeper.wait(timeout=10)  # (psutil already reaped our child; Popen only learns that it ended)
        assert other.poll() is None and not record.exists()

        record.write_text(json.dumps({"driver": reaper.snapshot(other.pid)[0], "processes": []}))
        with pytest.raises(UserError, match=rf"pid {other.pid}\) is still running"):
            reaper.reap(record)
    finally:
        for proc in (sleeper, other):
            proc.kill()
            proc.wait()
