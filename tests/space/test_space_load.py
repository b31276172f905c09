"""Valid spaces load: defaults filled, paths expanded ({demo}, relative to the file), the shipped spaces
against a fake demo tree, the whisper-small template structurally, and the resolved YAML round trip."""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

import pytest
import yaml
from space_fixtures import LANGUAGES, config_dir, corpus_dir, space_dict, whisper_config, write_space

from lors_search.errors import UserError
from lors_search.demo.paths import space_places
from lors_search.space import CompiledSpace, load_search_space

REPO = Path(__file__).resolve().parents[2]


def load(tree: Path, **changes: object) -> CompiledSpace:
    return load_search_space(write_space(tree, space_dict(tree, **changes), f"{uuid.uuid4().hex[:8]}.yaml"))


def test_minimal_space_gets_defaults(tree: Path) -> None:
    space = load(tree)
    assert space.method == "lors"
    assert space.base == str(tree / "models" / "base")
    assert [e.path for e in space.experts] == [str(tree / "models" / lang) for lang in LANGUAGES]
    assert space.data.path == str(tree / "data") and space.data.split == "dev"
    assert space.languages == LANGUAGES
    assert space.rank_ratio is not None and space.density is not None and space.rank is None
    assert space.seeds == ("paper_defaults", "task_arithmetic")
    assert space.objective_names() == ["normalized_performance"]
    assert space.objective_modes() == ["max"]
    assert space.shape.d_model == 32 and space.shape.encoder_layers == 2
    assert space.param_names() == [
        "enc.g0.self_attn.rank_ratio", "enc.g0.self_attn.density", "enc.g0.ffn.rank_ratio", "enc.g0.ffn.density",
        "enc.g1.self_attn.rank_ratio", "enc.g1.self_attn.density", "enc.g1.ffn.rank_ratio", "enc.g1.ffn.density",
        "dec.g0.self_attn.rank_ratio", "dec.g0.self_attn.density", "dec.g0.cross_attn.rank_ratio",
        "dec.g0.cross_attn.density", "dec.g0.ffn.rank_ratio", "dec.g0.ffn.density",
        "dec.g1.self_attn.rank_ratio", "dec.g1.self_attn.density", "dec.g1.cross_attn.rank_ratio",
        "dec.g1.cross_attn.density", "dec.g1.ffn.rank_ratio", "dec.g1.ffn.density", "scale",
    ]  # fmt: skip


def test_shared_groups_expert_scales_and_fixed_values(tree: Path) -> None:
    space = load(
        tree,
        groups={"encoder": {"size": "all"}, "decoder": {"size": 2}, "modules": "shared"},
        rank={"low": 1, "high": 32, "log": True},
        density=0.3,
        scale_per="expert",
    )
    assert space.param_names() == ["enc.g0.rank", "dec.g0.rank", "scale.de", "scale.es", "scale.fr"]
    fixed = [p for p in space.param_defs() if p.fixed]
    assert [(p.name, p.value) for p in fixed] == [("enc.g0.density", 0.3), ("dec.g0.density", 0.3)]


def test_group_scales_and_group_ranges(tree: Path) -> None:
    space = load(
        tree,
        groups={"encoder": {"size": 2}, "decoder": {"size": 2}, "modules": "per_kind"},
        scale_per="group",
        group_ranges={"dec.*": {"density": {"low": 0.5, "high": 1.0}}, "dec.g0.ffn": {"density": 0.9}},
        seeds=[],
    )
    defs = {p.name: p for p in space.param_defs()}
    assert defs["enc.g0.ffn.density"].low == 0.02
    assert (defs["dec.g0.self_attn.density"].low, defs["dec.g0.self_attn.density"].log) == (0.5, False)
    assert defs["dec.g0.ffn.density"].fixed and defs["dec.g0.ffn.density"].value == 0.9
    assert "dec.g0.cross_attn.scale" in defs and "scale" in defs


def test_other_methods_use_only_their_parameters(tree: Path) -> None:
    assert load(tree, method="task_arithmetic", seeds=["paper_defaults", "task_arithmetic"]).param_names() == ["scale"]
    sparse = load(tree, method="sparse")
    assert sparse.rank_ratio is None and all(not n.endswith("rank_ratio") for n in sparse.param_names())
    lowrank = load(tree, method="lowrank", rank_ratio={"low": 0.01, "high": 1.0, "log": True})
    assert sparse.density is not None and lowrank.density is None


def test_relative_paths_are_relative_to_the_file(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_space(tree, space_dict(tree), "relative.yaml")
    monkeypatch.chdir(tmp_path)
    assert load_search_space(path).base == str(tree / "models" / "base")
    assert load_search_space(path).name == "relative"


def test_resolved_yaml_round_trips(tree: Path, tmp_path: Path) -> None:
    space = load(
        tree,
        name="round",
        scale_per="group",
        group_ranges={"enc.*": {"scale": {"low": 0.2, "high": 0.8}}},
        seeds=["paper_defaults", {"name": "mine", "params": {"*.density": 0.5}}],
        objective={"kind": "multi", "objectives": ["asr_wer", "st_bleu"]},
        searcher={"algorithm": "nsga2", "seed": 3},
        compare={"multitask": "models/de"},
    )
    text = space.resolved_yaml()
    assert str(tree) in text and "{demo" not in text
    elsewhere = tmp_path / "copy.yaml"
    elsewhere.write_text(text, encoding="utf-8")
    again = load_search_space(elsewhere)
    assert again == space
    assert again.resolved_yaml() == text


@pytest.fixture()
def fake_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A demo tree with the full build's five languages (config-only models) under $LORS_DEMO_DIR."""
    root = tmp_path / "demo"
    config = whisper_config(d_model=64, ffn=256)
    langs = ("ca", "de", "es", "fr", "it")
    for name in ("base", "multitask", *(f"experts/{lang}" for lang in langs)):
        config_dir(root / name, config)
    corpus_dir(root / "data", langs, dev_clips=40)
    monkeypatch.setenv("LORS_DEMO_DIR", str(root))
    return root


def test_shipped_demo_and_smoke_spaces_load(fake_demo: Path) -> None:
    demo = load_search_space(REPO / "search_spaces" / "demo.yaml", places=space_places())
    assert demo.base == str(fake_demo / "base")
    assert demo.compare == {"multitask": str(fake_demo / "multitask")}
    assert [e.language for e in demo.experts] == ["ca", "de", "es", "fr", "it"]
    assert [name for name, _ in demo.named_seed_points()] == ["paper_defaults", "task_arithmetic"]
    assert demo.budget.num_samples == 40 and demo.fidelity.n_per_language == (10, 30, None)
    # The quick build has three of the languages; $LORS_DEMO_DIR serves both builds.
    shutil.rmtree(fake_demo / "experts" / "ca")
    shutil.rmtree(fake_demo / "experts" / "it")
    smoke = load_search_space(REPO / "search_spaces" / "smoke.yaml", places=space_places())
    assert [e.path for e in smoke.experts] == [str(fake_demo / "experts" / lang) for lang in ("de", "es", "fr")]
    assert smoke.budget.num_samples == 6 and len(smoke.fidelity.n_per_language) == 2
    assert len(smoke.param_names()) == 11


def test_demo_prefix_without_override_uses_the_cache(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lors_search.space.paths import expand_path

    monkeypatch.delenv("LORS_DEMO_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tree / "cache"))
    assert expand_path("{demo}/base", tree, space_places()) == str(tree / "cache" / "lors_search" / "demo" / "base")
    assert expand_path("{demo-quick}/data", tree, space_places()) == str(tree / "cache" / "lors_search" / "demo-quick" / "data")


def test_whisper_small_template_parses_without_paths() -> None:
    template = REPO / "search_spaces" / "whisper-small-covost2.yaml"
    space = load_search_space(template, check_paths=False)
    assert space.base == "openai/whisper-small"
    assert space.shape.d_model == 768 and space.shape.encoder_layers == 12
    assert len(space.group_list()) == 4 * 2 + 4 * 3
    names = [name for name, _ in space.named_seed_points()]
    assert names == ["paper_defaults", "task_arithmetic", "sparse_heavy_decoder"]
    assert space.named_seed_points()[0][1]["enc.g0.self_attn.rank"] == 7
    assert space.max_ranks()["model.encoder.layers.0.fc1.weight"] == 768
    with pytest.raises(UserError) as caught:
        load_search_space(template)
    assert str(caught.value) == (
        f"search space {template}: experts.0.path: no such directory "
        f"{REPO / 'search_spaces' / 'experts' / 'whisper-small-ca'}"
    )
    assert yaml.safe_load(template.read_text())["base"] == "openai/whisper-small"


def test_demo_dir_follows_the_demo_module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lors_search.demo.paths import default_demo_dir
    from lors_search.space.paths import expand_path

    monkeypatch.setenv("LORS_DEMO_DIR", str(tmp_path))
    assert default_demo_dir(True) == default_demo_dir(False) == tmp_path.resolve()
    assert expand_path("{demo-quick}", tmp_path / "elsewhere", space_places()) == os.fspath(tmp_path.resolve())
    assert expand_path("{demo}/base", tmp_path / "elsewhere", space_places()) == os.fspath(tmp_path.resolve() / "base")


def test_documented_example_parses(tmp_path: Path) -> None:
    text = (REPO / "docs" / "search-space.md").read_text(encoding="utf-8")
    example = text.split("## A complete example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.yaml").write_text(example, encoding="utf-8")
    space = load_search_space(tmp_path / "example.yaml", check_paths=False)
    assert space.experts[2].path == "hf:me/whisper-small-es"
    assert "scale.ca" in space.param_names() and "dec.g0.ffn.rank" in space.param_names()
    assert [name for name, _ in space.named_seed_points()] == ["paper_defaults", "task_arithmetic", "dense_decoder"]


def test_shipped_spaces_by_name() -> None:
    from lors_search.space import shipped_space, shipped_space_names

    assert {"demo", "smoke", "whisper-small-covost2"} <= set(shipped_space_names())
    assert shipped_space("smoke") == REPO / "search_spaces" / "smoke.yaml"
    # Every shipped space, sorted (the list grows as spaces are added: demo-methods, smoke-methods, ...).
    shipped = ", ".join(shipped_space_names())
    assert shipped.startswith("demo, ")
    with pytest.raises(UserError, match="^" + re.escape(f"no shipped search space 'nope' (shipped: {shipped})") + "$"):
        shipped_space("nope")


def test_default_seeds_fit_every_method(tree: Path) -> None:
    from lors_search.merging import method_names

    for method in method_names():
        space = load(tree, method=method)
        # Task arithmetic is expressible only where no tensor is trimmed outside the searched groups
        # (DARE and TIES trim every tensor; the SVD recombinations are no sum at all).
        exact = method in ("task_arithmetic", "sparse", "lowrank", "lors")
        expected = ["paper_defaults", "task_arithmetic"] if exact else ["paper_defaults"]
        assert [name for name, _ in space.named_seed_points()] == expected, method


def test_shipped_method_spaces_load(fake_demo: Path) -> None:
    methods = load_search_space(REPO / "search_spaces" / "demo-methods.yaml", places=space_places())
    assert set(methods.method_names) == {"task_arithmetic", "lors", "ties", "dare", "iso_c", "iso_cts", "tsv_m"}
    assert [name for name, _ in methods.named_seed_points()] == list(methods.method_names)
    assert methods.selection is not None and methods.search_part(120) == 80
    assert methods.budget.num_samples == 240
    ada = load_search_space(REPO / "search_spaces" / "demo-adamerging.yaml", places=space_places())
    assert ada.searcher.algorithm == "cmaes" and len(ada.param_names()) == 21  # 4 layers x 5 experts + outside
    shutil.rmtree(fake_demo / "experts" / "ca")
    shutil.rmtree(fake_demo / "experts" / "it")
    smoke = load_search_space(REPO / "search_spaces" / "smoke-methods.yaml", places=space_places())
    assert set(smoke.method_names) == {"task_arithmetic", "lors", "iso_c", "tsv_m"}
    assert smoke.search_part(16) == 10
