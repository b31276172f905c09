"""The Optuna side: the sampler survives standard pickle and drives a fresh study, is deterministic given the
searcher seed, and seed points enqueue exactly (names and values) — Optuna would silently drop typos."""

from __future__ import annotations

import pickle
import uuid
from pathlib import Path

import optuna
import pytest
from space_fixtures import space_dict, write_space

from lors_search.space import CompiledSpace, SpaceSampler, load_search_space

optuna.logging.set_verbosity(optuna.logging.WARNING)


def load(tree: Path, **changes: object) -> CompiledSpace:
    return load_search_space(write_space(tree, space_dict(tree, **changes), f"{uuid.uuid4().hex[:8]}.yaml"))


def run(space: CompiledSpace, sampler: SpaceSampler, trials: int, enqueue: bool = False) -> list[dict[str, object]]:
    study = optuna.create_study(sampler=space.searcher.optuna_sampler(), direction="maximize")
    if enqueue:
        for point in space.seed_points():
            study.enqueue_trial(point)

    def objective(trial: optuna.Trial) -> float:
        assert sampler(trial) is None
        return -sum((float(value) - 0.3) ** 2 for value in trial.params.values())

    study.optimize(objective, n_trials=trials)
    return [trial.params for trial in study.trials]


def test_sampler_pickles_and_runs_on_a_fresh_study(tree: Path) -> None:
    space = load(tree, scale_per="expert", rank={"low": 1, "high": 32, "log": True}, searcher={"n_startup_trials": 2})
    sampler = space.sampler()
    clone = pickle.loads(pickle.dumps(sampler))
    assert clone == sampler and type(clone) is SpaceSampler and clone.names == space.param_names()
    params = run(space, clone, 4)
    assert all(list(p) == space.param_names() for p in params)
    for point in params:
        space.validate_point(point)  # inside the ranges, ranks integral
        assert all(isinstance(point[name], int) for name in point if name.endswith(".rank"))


@pytest.mark.parametrize("algorithm", ["tpe", "random", "cmaes"])
def test_sampler_is_deterministic_by_seed(tree: Path, algorithm: str) -> None:
    space = load(tree, searcher={"algorithm": algorithm, "seed": 7, "n_startup_trials": 3})
    first = run(space, space.sampler(), 6)
    assert run(space, space.sampler(), 6) == first
    other = load(tree, searcher={"algorithm": algorithm, "seed": 8, "n_startup_trials": 3})
    assert run(other, other.sampler(), 6) != first


def test_seed_points_are_enqueued_exactly(tree: Path) -> None:
    space = load(tree, seeds=["paper_defaults", "task_arithmetic", {"name": "half", "params": {"*.density": 0.5}}])
    points = space.seed_points()
    params = run(space, space.sampler(), 4, enqueue=True)
    assert params[0] == points[0] and params[1] == points[1]
    assert all(params[2][name] == 0.5 for name in params[2] if name.endswith(".density"))
    assert len(params[2]) == len(space.param_names())  # the rest sampled


def test_multi_objective_study(tree: Path) -> None:
    space = load(tree, objective={"kind": "multi", "objectives": ["asr_wer", "st_bleu"]}, searcher={"algorithm": "nsga2"})
    assert space.objective_names() == ["asr_wer", "st_bleu"] and space.objective_modes() == ["min", "max"]
    directions = ["minimize" if mode == "min" else "maximize" for mode in space.objective_modes()]
    study = optuna.create_study(sampler=space.searcher.optuna_sampler(), directions=directions)
    sampler = pickle.loads(pickle.dumps(space.sampler()))
    study.optimize(lambda t: (sampler(t), (t.params["scale"], 1 - t.params["scale"]))[1], n_trials=3)
    assert len(study.best_trials) >= 1
