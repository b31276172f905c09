"""Merges found in the score cache by what they are (`merging.service.merge_key`), not by their weights: the report
reads a merge scored before without preparing the experts or merging, the demo's scoring phase pre-scores the two
recipes every report compares against, and a change to a checkpoint or to the plan is another key."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from lors_search.merging import ParamValues
from lors_search.merging.service import merge_key
from lors_search.report.compare import compare_models, recipe_configs, score_recipes
from lors_search.rundir import SearchRun


def _seed_trial(run: SearchRun, seed: str) -> int:
    """The trial that ran the space's seed point `seed` (the seeds run first, in the space's order)."""
    names = [name for name, _ in run.space().named_seed_points()]
    return sorted(run.trials)[names.index(seed)]


def _copy(single_run: Path, bench: Path, tmp_path: Path) -> SearchRun:
    """The run and its bench copied (without the bench's score cache), the run's space pointing at the copy."""
    bench_copy = tmp_path / "bench"
    shutil.copytree(bench, bench_copy, ignore=shutil.ignore_patterns("scores"))
    run_dir = tmp_path / "run"
    shutil.copytree(single_run, run_dir)
    space_file = run_dir / "space.yaml"
    space_file.write_text(space_file.read_text(encoding="utf-8").replace(str(bench), str(bench_copy)), encoding="utf-8")
    return SearchRun(run_dir)


def test_merge_key_is_what_decides_the_weights(single_run: Path, report_bench: Path, tmp_path: Path) -> None:
    run = SearchRun(single_run)
    best = run.best_trial()
    task_arithmetic, paper_lors = recipe_configs(best.merge_config())
    # The paper-defaults seed is written per layer group with explicit values; resolved, it is the recipe's merge.
    lors_trial = run.trials[_seed_trial(run, "paper_defaults")].merge_config()
    assert lors_trial.overrides and lors_trial.params != paper_lors.params  # not the same config...
    assert merge_key(lors_trial, "cpu") == merge_key(paper_lors, "cpu")  # ... the same merge
    explicit = task_arithmetic.model_copy(update={"params": ParamValues(scale=1 / len(task_arithmetic.experts))})
    assert merge_key(explicit, "cpu") == merge_key(task_arithmetic, "cpu")
    half = task_arithmetic.model_copy(update={"params": ParamValues(scale=0.25)})
    assert merge_key(half, "cpu") != merge_key(task_arithmetic, "cpu")
    # This space's task-arithmetic seed is LoRS at full density: the same sum by another method's code, another key.
    ta_seed = run.trials[_seed_trial(run, "task_arithmetic")].merge_config()
    assert ta_seed.method == "lors" and merge_key(ta_seed, "cpu") != merge_key(task_arithmetic, "cpu")
    keys = {merge_key(record.merge_config(), "cpu") for record in run.trials.values() if record.merge_config_yaml}
    assert len(keys) == len([record for record in run.trials.values() if record.merge_config_yaml])
    assert merge_key(task_arithmetic, "cuda") != merge_key(task_arithmetic, "cpu")  # CUDA rounds differently

    # Same content elsewhere: same key. One weight changed: another key. A Hub id: no key.
    expert = task_arithmetic.experts[0]
    moved = tmp_path / "expert"
    shutil.copytree(expert.path, moved)
    experts = (expert.model_copy(update={"path": str(moved)}), *task_arithmetic.experts[1:])
    relocated = task_arithmetic.model_copy(update={"experts": experts})
    assert merge_key(relocated, "cpu") == merge_key(task_arithmetic, "cpu")
    weights = load_file(str(moved / "model.safetensors"))
    name = sorted(weights)[0]
    weights[name] = weights[name] + torch.ones_like(weights[name]) * 1e-3
    save_file(weights, str(moved / "model.safetensors"), metadata={"format": "pt"})
    assert merge_key(relocated, "cpu") != merge_key(task_arithmetic, "cpu")
    hub = task_arithmetic.model_copy(update={"base": "openai/whisper-tiny"})
    assert merge_key(hub, "cpu") is None


def test_recipes_and_scored_merges_come_from_the_cache(single_run: Path, report_bench: Path, tmp_path: Path) -> None:
    run = _copy(single_run, report_bench, tmp_path)
    space = run.space()
    said: list[str] = []
    assert score_recipes(space, progress=said.append) == 2
    assert any(line.startswith("preparing expert") for line in said)
    said.clear()
    assert score_recipes(space, progress=said.append) == 0  # a second scoring phase on this build: nothing to do
    assert said == ["task arithmetic 1/N: dev and test cached", "LoRS paper defaults: dev and test cached"]

    best = run.best_trial()
    first: list[str] = []
    columns = compare_models(run, best, test=True, device="cpu", progress=first.append)
    assert "cached task arithmetic (1/2) on dev and test" in first
    assert "cached LoRS paper defaults on dev and test" in first

    # A second report merges nothing: every merge is found by its key, the experts are not even prepared.
    second: list[str] = []
    again = compare_models(run, best, test=True, device="cpu", progress=second.append)
    assert not [line for line in second if line.startswith(("preparing", "loading expert", "scored"))], second
    # ... and what it reads is what decoding gives (the same report without the cache).
    fresh = compare_models(run, best, test=True, device="cpu", cache=False)
    for cached, read, decoded in zip(columns, again, fresh, strict=True):
        assert cached.label == read.label == decoded.label
        assert sorted(read.test_rows or (), key=repr) == sorted(decoded.test_rows or (), key=repr)
        assert sorted(read.dev_rows, key=repr) == sorted(decoded.dev_rows, key=repr)
        assert sorted(cached.test_rows or (), key=repr) == sorted(decoded.test_rows or (), key=repr)
