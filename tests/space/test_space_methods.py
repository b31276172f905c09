"""Spaces over several merge methods (method a categorical, each method's parameters conditional on it),
method-declared parameters searched by name (`params:`), per-(group, expert) scales, the selection part, and
the merges their points turn into (exact per-tensor plans)."""

from __future__ import annotations

import uuid
from pathlib import Path

import optuna
import pytest
from space_fixtures import LANGUAGES, space_dict, whisper_config, write_space

from lors_search.errors import UserError
from lors_search.merging import describe_state, resolve_plan
from lors_search.space import CompiledSpace, load_search_space
from lors_search.space.parameters import PointError

METHODS = {
    "task_arithmetic": {"scale": {"low": 0.1, "high": 0.5}, "scale_per": "group_expert"},
    "lors": {},
    "iso_c": {"scale": {"low": 0.5, "high": 2.0}, "params": {"dense_scale": {"low": 0.1, "high": 0.4}}},
    "tsv_m": {"params": {"sv_fraction": {"low": 0.2, "high": 1.0}}},
}


@pytest.fixture(scope="module")
def tiny_base_state() -> dict:
    """The state dict of a model with the fixture tree's config (what plans are resolved against)."""
    from transformers import WhisperForConditionalGeneration

    return WhisperForConditionalGeneration(whisper_config()).state_dict()


def load(tree: Path, **changes: object) -> CompiledSpace:
    return load_search_space(write_space(tree, space_dict(tree, **changes), f"{uuid.uuid4().hex[:8]}.yaml"))


def bad(tree: Path, expected: str, **changes: object) -> None:
    with pytest.raises(UserError) as caught:
        load(tree, **changes)
    assert expected in str(caught.value), str(caught.value)


def test_method_space_names_each_methods_parameters_under_its_prefix(tree: Path) -> None:
    space = load(tree, methods=METHODS, groups={"encoder": {"size": "all"}, "decoder": {"size": "all"}, "modules": "shared"})
    names = space.param_names()
    assert names[0] == "method"
    # group_expert: one scale per (group, expert) for task arithmetic, plus the global scale.
    assert [n for n in names if n.startswith("task_arithmetic/")] == [
        *(f"task_arithmetic/enc.g0.scale.{lang}" for lang in LANGUAGES),
        *(f"task_arithmetic/dec.g0.scale.{lang}" for lang in LANGUAGES),
        "task_arithmetic/scale",
    ]
    assert [n for n in names if n.startswith("iso_c/")] == ["iso_c/scale", "iso_c/dense_scale"]
    # tsv_m's scale and dense_scale come from its declaration's default ranges.
    assert [n for n in names if n.startswith("tsv_m/")] == ["tsv_m/scale", "tsv_m/sv_fraction", "tsv_m/dense_scale"]
    assert "lors/enc.g0.rank_ratio" in names and "lors/dec.g0.density" in names


def test_sampler_suggests_only_the_chosen_methods_parameters(tree: Path) -> None:
    space = load(tree, methods=METHODS)
    sampler = space.sampler()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=3))
    seen = set()
    for _ in range(24):
        trial = study.ask()
        sampler(trial)
        method = trial.params["method"]
        seen.add(method)
        assert all(name == "method" or name.startswith(f"{method}/") for name in trial.params)
        assert space.validate_point(trial.params) == trial.params
        assert space.merge_params(trial.params).method == method
        study.tell(trial, 0.0)
    assert seen == set(METHODS)


def test_points_of_another_method_are_refused(tree: Path) -> None:
    space = load(tree, methods=METHODS)
    with pytest.raises(PointError, match="does not belong to method 'iso_c'"):
        space.validate_point({"method": "iso_c", "iso_c/scale": 1.0, "iso_c/dense_scale": 0.2, "tsv_m/scale": 1.0})
    with pytest.raises(PointError, match="is not one of the space's methods"):
        space.validate_point({"method": "ties"})


def test_group_expert_scales_become_per_group_per_expert_overrides(tree: Path, tiny_base_state) -> None:
    space = load(tree, methods=METHODS, groups={"encoder": {"size": "all"}, "decoder": {"size": "all"}, "modules": "shared"})
    point = {"method": "task_arithmetic", "task_arithmetic/scale": 0.3}
    for index, lang in enumerate(LANGUAGES):
        point[f"task_arithmetic/enc.g0.scale.{lang}"] = 0.1 + 0.1 * index
        point[f"task_arithmetic/dec.g0.scale.{lang}"] = 0.45 - 0.1 * index
    params = space.merge_params(point)
    plan = resolve_plan(params, describe_state(tiny_base_state), list(LANGUAGES))
    enc = plan.tensors["model.encoder.layers.0.fc1.weight"]
    dec = plan.tensors["model.decoder.layers.1.encoder_attn.q_proj.weight"]
    assert enc.scales == pytest.approx((0.1, 0.2, 0.3))
    assert dec.scales == pytest.approx((0.45, 0.35, 0.25))
    # Tensors outside every layer (embeddings, convolutions) keep the global scale.
    assert plan.tensors["model.encoder.conv1.weight"].scales == (0.3, 0.3, 0.3)


def test_declared_parameters_reach_the_plan(tree: Path, tiny_base_state) -> None:
    space = load(tree, methods=METHODS)
    params = space.merge_params({"method": "iso_c", "iso_c/scale": 1.5, "iso_c/dense_scale": 0.25})
    plan = resolve_plan(params, describe_state(tiny_base_state), list(LANGUAGES))
    assert plan.tensors["model.encoder.layers.0.fc1.weight"].scales == (1.5, 1.5, 1.5)
    # Iso-C's dense tensors take dense_scale, not the matrices' alpha.
    assert plan.tensors["model.encoder.layers.0.fc1.bias"].scales == (0.25, 0.25, 0.25)


def test_method_seeds_are_each_methods_paper_defaults(tree: Path) -> None:
    space = load(tree, methods=METHODS)
    seeds = dict(space.named_seed_points())
    assert list(seeds) == ["task_arithmetic", "lors", "iso_c", "tsv_m"]
    assert seeds["iso_c"] == {"method": "iso_c", "iso_c/scale": 1.0, "iso_c/dense_scale": pytest.approx(1 / 3)}
    assert seeds["tsv_m"]["tsv_m/sv_fraction"] == 1.0 and seeds["tsv_m"]["tsv_m/scale"] == 1.0
    assert seeds["lors"]["lors/enc.g0.self_attn.density"] == 0.2
    assert all(value == pytest.approx(1 / 3) for key, value in seeds["task_arithmetic"].items() if key != "method")


def test_max_ranks_cover_every_method(tree: Path) -> None:
    space = load(tree, methods={"tsv_m": {"params": {"sv_fraction": {"low": 0.1, "high": 0.5}}}}, seeds=[])
    # d_model 32 over 3 experts at sv_fraction 0.5: k = floor(0.5 * 32 / 3) = 5.
    assert set(space.max_ranks().values()) == {5}
    both = load(tree, methods={"tsv_m": {}, "lors": {}})
    assert set(both.max_ranks().values()) == {32}  # lors' rank ratio reaches 1.0: every factor


def test_several_method_space_errors_are_one_line(tree: Path) -> None:
    bad(tree, "methods: unknown merge method 'magic'", methods={"magic": {}})
    bad(tree, "density: with methods, give it under methods.<name>.density", methods={"lors": {}}, density=0.2)
    bad(tree, "methods.iso_c: params.seed: method 'iso_c' takes no seed", methods={"iso_c": {"params": {"seed": 1}}})
    bad(tree, "methods.tsv_m: params.sv_fraction: must lie in [0.0, 1.0]",
        methods={"tsv_m": {"params": {"sv_fraction": {"low": 0.1, "high": 2.0}}}})
    bad(tree, "methods.lors.ranks: unknown key", methods={"lors": {"ranks": 3}})


def test_selection_part_leaves_clips_to_search(tree: Path) -> None:
    space = load(tree, selection={"clips_per_language": 4, "candidates": 2})
    assert space.search_part(6) == 2
    with pytest.raises(ValueError, match="leaves no dev clip to search on"):
        space.search_part(4)


def test_resolved_yaml_of_a_method_space_reloads_equal(tree: Path) -> None:
    space = load(tree, methods=METHODS, selection={"clips_per_language": 2})
    path = tree / f"{uuid.uuid4().hex[:8]}-resolved.yaml"
    path.write_text(space.resolved_yaml(), encoding="utf-8")
    again = load_search_space(path)
    assert again.resolved_yaml() == space.resolved_yaml()
    assert again.param_names() == space.param_names()


def test_only_methods_keeps_those_methods_with_their_ranges_and_names_the_run(tree: Path) -> None:
    path = write_space(tree, space_dict(tree, methods=METHODS), f"{uuid.uuid4().hex[:8]}.yaml")
    whole = load_search_space(path)
    alone = load_search_space(path, only_methods=["tsv_m", "iso_c"])
    assert list(alone.methods) == ["tsv_m", "iso_c"]
    assert alone.name == f"{whole.name}-tsv_m+iso_c"
    assert [n for n in alone.param_names() if n.startswith("iso_c/")] == ["iso_c/scale", "iso_c/dense_scale"]
    assert not any(n.startswith(("lors/", "task_arithmetic/")) for n in alone.param_names())
    # The same ranges as in the whole space: a method searched alone is the same sub-space.
    assert alone.methods["iso_c"] == whole.methods["iso_c"]
    # Task arithmetic 1/N is a seed only where a kept method hosts it (task_arithmetic or lors here).
    assert "task_arithmetic" in whole.seeds and "task_arithmetic" not in alone.seeds
    assert "task_arithmetic" in load_search_space(path, only_methods=["lors"]).seeds
    # Also when the file lists the seed itself (as demo-methods.yaml does).
    listed = write_space(
        tree, space_dict(tree, methods=METHODS, seeds=["paper_defaults", "task_arithmetic"]), f"{uuid.uuid4().hex[:8]}.yaml"
    )
    assert load_search_space(listed, only_methods=["tsv_m"]).seeds == ("paper_defaults",)


def test_only_methods_refuses_a_method_the_space_lacks_and_a_single_method_space(tree: Path) -> None:
    path = write_space(tree, space_dict(tree, methods=METHODS), f"{uuid.uuid4().hex[:8]}.yaml")
    with pytest.raises(UserError, match=r"--methods ties is not one of its methods \(task_arithmetic, lors, iso_c, tsv_m\)"):
        load_search_space(path, only_methods=["ties"])
    single = write_space(tree, space_dict(tree), f"{uuid.uuid4().hex[:8]}.yaml")
    with pytest.raises(UserError, match="has no methods: section"):
        load_search_space(single, only_methods=["lors"])
