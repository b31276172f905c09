"""The other searchers: a multi-objective search end to end on the session's Ray (NSGA-II over asr_wer and
st_bleu, no ASHA: every trial at full fidelity, Pareto front from the study); CMA-ES and random search behind
the fidelity-aware searcher without Ray."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd

from lors_search.search.driver import check_run_dir, run_search
from lors_search.space import load_search_space


def test_multi_objective_nsga2_records_both_objectives(ray_session, write_space, tmp_path: Path) -> None:
    space = load_search_space(write_space(
        "multi",
        objective={"kind": "multi", "objectives": ["asr_wer", "st_bleu"]},
        searcher={"algorithm": "nsga2", "seed": 0, "n_startup_trials": None},
        budget={"num_samples": 3},
    ))
    run_dir = check_run_dir(tmp_path / "runs", "multi", resume=False)
    outcome = run_search(space, run_dir, workers=2, progress=lambda message: None)
    assert outcome.status == "finished" and outcome.rungs == [12]  # multi-objective: the last rung only
    table = pd.read_parquet(run_dir.trials_parquet)
    assert len(table) == 3 and set(table["state"]) == {"COMPLETE"}
    assert (table["objective"] == table["objective:asr_wer"]).all()
    run = json.loads(run_dir.run_json.read_text())
    assert run["objectives"] == [{"name": "asr_wer", "mode": "min"}, {"name": "st_bleu", "mode": "max"}]
    study = optuna.load_study(study_name=run["study_name"], storage=run_dir.storage_url)
    assert study.directions == [optuna.study.StudyDirection.MINIMIZE, optuna.study.StudyDirection.MAXIMIZE]
    assert study.best_trials  # the Pareto front
    best = json.loads(run_dir.best_json.read_text())
    assert best["objective"] == table.loc[table["state"] == "COMPLETE", "objective"].min()  # asr_wer: lower is better


def test_cmaes_and_random_samplers_drive_the_fidelity_searcher() -> None:
    """CMA-ES and random search behind FidelityOptunaSearch, without Ray: suggest, prune, complete."""
    from lors_search.search.searcher import FIDELITY_KEY, FidelityOptunaSearch
    from lors_search.space import Searcher

    def space_fn(trial: optuna.Trial) -> None:
        trial.suggest_float("a", 0.0, 1.0)
        trial.suggest_float("b", 0.1, 1.0, log=True)

    for algorithm in ("cmaes", "random"):
        searcher = FidelityOptunaSearch(
            space=space_fn, metric="objective", mode="max", sampler=Searcher(algorithm=algorithm, seed=1,
            n_startup_trials=1).optuna_sampler(), storage=optuna.storages.InMemoryStorage(), study_name=algorithm,
            max_level=2.0,
        )
        for index in range(6):
            config = searcher.suggest(str(index))
            value = config["params"]["a"] - config["params"]["b"]
            level = 2.0 if index % 2 == 0 else 1.0
            searcher.on_trial_complete(str(index), {"objective": value, FIDELITY_KEY: level, "training_iteration": 1})
        states = [t.state.name for t in searcher._ot_study.trials]
        assert states == ["COMPLETE", "PRUNED"] * 3, algorithm
