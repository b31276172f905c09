"""Trial points -> merges: the paper's defaults on a d_model 192 model are exact MergeParams; a sampled point
run through `resolve_plan` on a tiny real checkpoint gives every tensor exactly its group's numbers; max ranks
match the plan at the upper bounds; the MergeConfig reloads through `load_merge_config`."""

from __future__ import annotations

import uuid
from pathlib import Path

import optuna
import pytest
import yaml
from space_fixtures import LANGUAGES, config_dir, real_checkpoint, space_dict, whisper_config, write_space

from lors_search.checkpoints import load_checkpoint
from lors_search.errors import UserError
from lors_search.merge_config import load_merge_config
from lors_search.merging import MergeParams, Override, ParamValues, Selector, describe_state, keep_count, resolve_plan
from lors_search.merging.plan import resolve_rank
from lors_search.space import CompiledSpace, load_search_space

optuna.logging.set_verbosity(optuna.logging.WARNING)


def load(root: Path, **changes: object) -> CompiledSpace:
    return load_search_space(write_space(root, space_dict(root, **changes), f"{uuid.uuid4().hex[:8]}.yaml"))


@pytest.fixture(scope="module")
def real_base(tree: Path) -> Path:
    target = tree / "models" / "real"
    return target if (target / "config.json").exists() else real_checkpoint(target, whisper_config())


@pytest.fixture(scope="module")
def wide_tree(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("d192")
    config = whisper_config(d_model=192, layers=2, ffn=768)
    for name in ("base", *LANGUAGES):
        config_dir(root / "models" / name, config)
    (root / "data").symlink_to(tree / "data")
    return root


def test_paper_defaults_on_d_model_192_are_exact(wide_tree: Path) -> None:
    space = load(
        wide_tree,
        groups={"encoder": {"size": "all"}, "decoder": {"size": "all"}, "modules": "shared"},
        rank={"low": 1, "high": 192, "log": True},
        seeds=["paper_defaults", "task_arithmetic"],
    )
    paper, arithmetic = space.seed_points()
    assert paper == {"enc.g0.rank": 1, "enc.g0.density": 0.2, "dec.g0.rank": 1, "dec.g0.density": 0.2, "scale": 1 / 3}
    assert arithmetic == {"enc.g0.rank": 192, "enc.g0.density": 1.0, "dec.g0.rank": 192, "dec.g0.density": 1.0, "scale": 1 / 3}
    assert space.merge_params(paper) == MergeParams(
        method="lors",
        params=ParamValues(scale=1 / 3),
        overrides=(
            Override(select=Selector(stack="encoder", layers=(0, 1)), set=ParamValues(rank=1, density=0.2)),
            Override(select=Selector(stack="decoder", layers=(0, 1)), set=ParamValues(rank=1, density=0.2)),
        ),
    )
    ratio = load(wide_tree, seeds=["paper_defaults"]).seed_points()[0]
    assert set(ratio[name] for name in ratio if name.endswith("rank_ratio")) == {0.01}
    assert resolve_rank(None, 0.01, (192, 192)) == resolve_rank(None, 0.01, (768, 192)) == 1


def _sampled_point(space: CompiledSpace, seed: int = 0) -> dict[str, object]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    trial = study.ask()
    space.sampler()(trial)
    return dict(trial.params)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"groups": {"encoder": {"size": 2}, "decoder": {"size": 1}, "modules": "shared"}, "scale_per": "expert"},
        {"rank": {"low": 0, "high": 32}, "scale_per": "group", "groups": {"decoder": {"size": "all"}}},
    ],
    ids=["per-kind-global", "shared-expert-scales", "int-rank-group-scales"],
)
def test_merge_config_resolves_to_the_flat_values(tree: Path, real_base: Path, changes: dict) -> None:
    space = load(tree, base="models/real", **changes)
    flat = _sampled_point(space)
    config = space.merge_config(flat)
    assert config.base == str(real_base)
    assert [e.path for e in config.experts] == [str(tree / "models" / lang) for lang in LANGUAGES]
    infos = describe_state(load_checkpoint(real_base).state_dict)
    plan = resolve_plan(config.merge_params(), infos, [e.name for e in config.experts])
    groups = space.group_list()
    checked = 0
    for name, tensor in plan.tensors.items():
        info = infos[name]
        group = next(
            (g for g in groups if g.stack == info.stack and info.layer is not None and g.first <= info.layer <= g.last
             and info.module in g.modules),
            None,
        )
        for index, expert in enumerate(plan.experts):
            if space.scale_per == "expert":
                want_scale = flat[f"scale.{expert}"]
            elif space.scale_per == "group" and group is not None:
                want_scale = flat[f"{group.id}.scale"]
            else:
                want_scale = flat["scale"]
            assert tensor.scales[index] == want_scale, name
            if tensor.treatment != "lowrank_sparse":
                continue
            assert group is not None, name
            density = flat[f"{group.id}.density"]
            assert tensor.densities[index] == density
            assert tensor.keeps[index] == keep_count(density, info.numel)
            if space.rank_param == "rank":
                assert tensor.ranks[index] == min(flat[f"{group.id}.rank"], min(info.shape))
            else:
                assert tensor.ranks[index] == resolve_rank(None, flat[f"{group.id}.rank_ratio"], info.shape)
            checked += 1
    assert checked == 32 * 3  # 2 enc layers x 6 + 2 dec layers x 10 matrices, 3 experts

    highs = {p.name: (int(p.high) if p.is_int else p.high) for p in space.param_defs() if not p.fixed}
    high_plan = resolve_plan(space.merge_params(highs), infos, [e.name for e in space.experts])
    assert space.max_ranks() == high_plan.max_ranks()


def test_merge_config_yaml_reloads(tree: Path, real_base: Path, tmp_path: Path) -> None:
    space = load(tree, base="models/real", scale_per="expert")
    config = space.merge_config(_sampled_point(space, seed=3))
    path = tmp_path / "merge.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    assert load_merge_config(path) == config


def test_fixed_values_and_bad_points(tree: Path) -> None:
    space = load(tree, density=0.25, seeds=[])
    flat = _sampled_point(space)
    assert all(not name.endswith("density") for name in flat)
    assert all(o.set.density == 0.25 for o in space.merge_params(flat).overrides)
    with pytest.raises(UserError, match=r"trial parameters: parameter 'scale' is missing \(1 of 11 missing\)$"):
        space.merge_params({k: v for k, v in flat.items() if k != "scale"})
    with pytest.raises(UserError, match=r"trial parameters: scale = 7 is outside its range \[0.05, 1.0, log\]$"):
        space.merge_params({**flat, "scale": 7})
    with pytest.raises(UserError, match=r"parameter 'enc.g0.ffn.density' is fixed at 0.25 in this space"):
        space.merge_params({**flat, "enc.g0.ffn.density": 0.25})


def test_no_rank_method_needs_no_factors(tree: Path) -> None:
    assert load(tree, method="sparse").max_ranks() == {}
    assert load(tree, method="task_arithmetic").max_ranks() == {}
