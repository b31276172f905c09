"""End-to-end searches on one local Ray (2 CPUs): the CLI from space to summary, the run directory exactly as
docs/search.md describes it, Optuna's view of the trials, best.yaml through `lors-search merge --config`, and
a worker actor killed in the middle of a trial (restarted, trial retried)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from lors_search.cli import main

RUN_FILES = {"space.yaml", "run.json", "study.db", "trials.parquet", "best.yaml", "best.json", "tune", "console.log"}


def load_study(run_dir: Path) -> optuna.Study:
    run = json.loads((run_dir / "run.json").read_text())
    return optuna.load_study(study_name=run["study_name"], storage=f"sqlite:///{run_dir / 'study.db'}")


def test_smoke_search_end_to_end(ray_session, write_space, tmp_path: Path, capsys) -> None:
    space = write_space(
        "smoke-e2e",
        budget={"num_samples": 8},
        fidelity={"n_per_language": [1, 3, None], "reduction_factor": 2},
    )
    runs = tmp_path / "runs"
    assert main(["search", str(space), "--runs-dir", str(runs), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    run_dir = runs / "smoke-e2e"
    assert {p.name for p in run_dir.iterdir()} == RUN_FILES

    # Progress: one line per finished trial; summary with the paths and the next command.
    assert out.count("trial ") >= 8 and "best" in out
    assert f"run directory: {run_dir}" in out and f"lors-search export {run_dir}" in out
    assert "de/transcribe" in out and "WER" in out and "BLEU" in out

    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "finished" and run["name"] == "smoke-e2e"
    assert run["study_name"].startswith("smoke-e2e-") and run["fidelity"] == [1, 3, 12]
    assert run["ray_namespace"] == f"lors-search/{run['study_name']}/session-1"  # the session's actors
    assert [p.name for p in (run_dir / "tune").iterdir()] == [f"{run['study_name']}-session-1"]
    assert (runs / ".smoke-e2e.lock").read_text() == ""  # beside the run; emptied at the end (the lock is the flock)
    assert run["objectives"] == [{"name": "normalized_performance", "mode": "max"}]
    assert set(run["references"]) == {"base", "experts"}
    assert set(run["references"]["experts"]) == {"de", "es"}
    assert set(run["references"]["experts"]["de"]) == {"de/transcribe", "de/translate"}  # own language only
    assert set(run["references_per_rung"]) == {"1", "3", "12"}
    assert yaml.safe_load((run_dir / "space.yaml").read_text())["name"] == "smoke-e2e"

    table = pd.read_parquet(run_dir / "trials.parquet")
    assert len(table) == 8 and table["trial"].tolist() == sorted(table["trial"])
    for column in ("trial", "tune_trial_id", "state", "objective", "objective:normalized_performance",
                   "n_per_language", "param:scale", "metric:de/transcribe:wer", "metric:es/translate:bleu",
                   "merge_seconds", "eval_seconds", "merge_config", "finished_at"):
        assert column in table.columns, column
    assert set(table["state"]) <= {"COMPLETE", "PRUNED"}
    assert (table.loc[table["state"] == "COMPLETE", "n_per_language"] == 12).all()
    assert (table.loc[table["state"] == "PRUNED", "n_per_language"] < 12).all()

    # Optuna agrees row by row: pruned trials are PRUNED there, not COMPLETE with a subset score.
    study = load_study(run_dir)
    optuna_states = {t.number: t.state.name for t in study.trials}
    assert optuna_states == dict(zip(table["trial"], table["state"], strict=True))
    for trial in study.trials:
        if trial.state.name == "COMPLETE":
            row = table[table["trial"] == trial.number].iloc[0]
            assert trial.value == pytest.approx(row["objective"])

    # The seed points (the paper's defaults, task arithmetic) are the first trials.
    from lors_search.space import load_search_space

    seeds = load_search_space(space).seed_points()
    assert len(seeds) == 2
    for trial, seed in zip(sorted(study.trials, key=lambda t: t.number), seeds, strict=False):
        assert trial.params == pytest.approx(seed)
        assert trial.state.name == "COMPLETE"  # seeds are never stopped early (SeedFirstASHA)

    best = json.loads((run_dir / "best.json").read_text())
    complete = table[table["state"] == "COMPLETE"]
    assert best["trial"] == int(complete.loc[complete["objective"].idxmax(), "trial"])
    assert best["objective"] == pytest.approx(complete["objective"].max())
    assert best["n_per_language"] == 12 and set(best["metrics"]) == set(run["references"]["base"])

    # best.yaml is a merge config the merge command accepts.
    merged = tmp_path / "merged"
    assert main(["merge", "--config", str(run_dir / "best.yaml"), "--out", str(merged)]) == 0
    assert (merged / "model.safetensors").is_file()


def test_an_existing_run_needs_resume(ray_session, write_space, tmp_path: Path, capsys) -> None:
    space = write_space("exists")
    (tmp_path / "runs" / "exists").mkdir(parents=True)
    assert main(["search", str(space), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and "--resume" in err[0]
    assert main(["search", str(space), "--runs-dir", str(tmp_path / "runs"), "--name", "none", "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_worker_killed_mid_trial_is_restarted_and_the_trial_retried(ray_session, write_space, tmp_path: Path) -> None:
    import ray

    from lors_search.runtime.names import POOL_NAME, worker_actor_name
    from lors_search.search.driver import check_run_dir, run_search
    from lors_search.space import load_search_space

    # batch_size 1: slow enough trials (many small decoder calls) that the kill lands inside one.
    space = load_search_space(write_space("killed", data={"batch_size": 1}, budget={"num_samples": 2},
                                          fidelity={"n_per_language": [None]}))
    run_dir = check_run_dir(tmp_path / "runs", "killed", resume=False)
    outcome: dict = {}

    def search() -> None:
        outcome["result"] = run_search(space, run_dir, workers=1, progress=lambda message: None)

    thread = threading.Thread(target=search)
    thread.start()
    killed = None
    deadline = time.monotonic() + 120
    namespace = None
    while killed is None and time.monotonic() < deadline and thread.is_alive():
        try:  # the run's namespace (run.json's ray_namespace) once the run has written it
            namespace = namespace or json.loads(run_dir.run_json.read_text()).get("ray_namespace")
        except (OSError, ValueError):
            time.sleep(0.05)
            continue
        try:
            pool = ray.get_actor(POOL_NAME, namespace=namespace)
            leases = ray.get(pool.leases.remote())
        except ValueError:
            leases = {}
        if leases:
            time.sleep(0.3)  # inside the trial's worker.run
            worker = ray.get_actor(worker_actor_name(0), namespace=namespace)
            before = ray.get(worker.info.remote())["pid"]
            ray.kill(worker, no_restart=False)
            killed = before
        time.sleep(0.05)
    thread.join(timeout=240)
    assert killed is not None, "no trial was running to interrupt"
    result = outcome["result"]
    assert result.status == "finished"
    table = pd.read_parquet(run_dir.trials_parquet)
    assert len(table) == 2 and set(table["state"]) == {"COMPLETE"}
    assert table["retries"].sum() >= 1  # the interrupted trial was retried, not lost
    assert result.extra["worker_restarts"] >= 1
