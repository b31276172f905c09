"""Bad spaces fail at load time, before anything starts, with one line naming the file and the field."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from space_fixtures import config_dir, corpus_dir, space_dict, whisper_config, write_space

from lors_search.errors import UserError
from lors_search.space import load_search_space

EXPERTS = [{"name": lang, "path": f"models/{lang}", "language": lang} for lang in ("de", "es", "fr")]

# (changes to the valid space, expected message after "search space <file>: "); {tree} is the fixture root.
CASES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown top-level key": ({"rnak_ratio": {"low": 0.1, "high": 0.2}}, "rnak_ratio: unknown key (did you mean 'rank_ratio'?)"),
    "unknown nested key": ({"data": {"path": "data", "splt": "dev"}}, "data.splt: unknown key (did you mean 'split'?)"),
    "missing base": ({"base": None}, "base: Input should be a valid string"),
    "density zero": ({"density": {"low": 0.0, "high": 0.5}}, "density: density must lie in (0, 1], got [0.0, 0.5]"),
    "density above one": ({"density": {"low": 0.1, "high": 1.5}}, "density: density must lie in (0, 1], got [0.1, 1.5]"),
    "negative rank": ({"rank": {"low": -1, "high": 4}}, "rank: rank cannot be negative, got -1"),
    "fractional rank": (
        {"rank": {"low": 1, "high": 4.5}},
        "rank: rank bounds must be integers, got 4.5 (use rank_ratio for fractions)",
    ),
    "low above high": ({"scale": {"low": 0.5, "high": 0.1}}, "scale: low 0.5 is above high 0.1"),
    "log from zero": ({"rank_ratio": {"low": 0.0, "high": 0.5, "log": True}}, "rank_ratio: a log scale needs low > 0, got 0.0"),
    "rank and ratio": (
        {"rank": {"low": 1, "high": 4}, "rank_ratio": {"low": 0.1, "high": 0.5}},
        "give either rank or rank_ratio, not both",
    ),
    "rank above the matrices": (
        {"rank": {"low": 1, "high": 33}, "seeds": ["paper_defaults"]},
        "rank: 33 is above the largest rank of group enc.g0.self_attn (32: matrices 32x32); lower it or use rank_ratio",
    ),
    "rank above in group_ranges": (
        {"rank": {"low": 1, "high": 32}, "group_ranges": {"dec.*.ffn": {"rank": {"low": 1, "high": 40}}}},
        ("group_ranges.dec.*.ffn.rank: 40 is above the largest rank of group dec.g0.ffn (32: matrices 32x64, 64x32); "
         "lower it or use rank_ratio"),
    ),
    "unknown method": (
        {"method": "magic"},
        ("method: unknown merge method 'magic' (known: task_arithmetic, ties, dare, sparse, lowrank, lors, iso_c, iso_cts, "
         "tsv_m, regmean)"),
    ),
    "parameter the method lacks": (
        {"method": "ties", "rank_ratio": {"low": 0.1, "high": 0.5}},
        "rank_ratio: method 'ties' takes no rank_ratio (it takes: density, scale); remove it",
    ),
    "missing expert": (
        {"experts": [*EXPERTS[:2], {"name": "fr", "path": "models/gone", "language": "fr"}]},
        "experts.2.path: no such directory {tree}/models/gone",
    ),
    "expert without config": (
        {"experts": [*EXPERTS[:2], {"name": "fr", "path": "data", "language": "fr"}]},
        "experts.2.path: {tree}/data is not a Hugging Face model directory (no config.json)",
    ),
    "expert of another shape": (
        {"experts": [*EXPERTS[:2], {"name": "fr", "path": "models/wide", "language": "fr"}]},
        "experts.2.path: expert 'fr' has shape d_model 48, 2+2 layers, ffn 64/64, the base d_model 32, 2+2 layers, ffn 64/64",
    ),
    "missing base dir": ({"base": "./models/nothing"}, "base: no such directory {tree}/models/nothing"),
    "unknown hub base": (
        {"base": "models/nothing"},
        ("base: 'models/nothing' is no local path (relative to the file) and no Hub model known offline "
         "(openai/whisper-* or one in the Hugging Face cache); give a directory or download it first"),
    ),
    "base without config": ({"base": "data"}, "base: {tree}/data has no config.json (not a Hugging Face Whisper directory)"),
    "missing data dir": ({"data": {"path": "nodata"}}, "data.path: no such directory {tree}/nodata"),
    "data without the split": (
        {"data": {"path": "devless"}},
        "data.split: {tree}/devless has no 'dev' split (it has train, test)",
    ),
    "test split": (
        {"data": {"path": "data", "split": "test"}},
        "data.split: the test split is reserved for final reports; a search must select on dev (use split: dev)",
    ),
    "expert language not in the data": (
        {"experts": [*EXPERTS[:2], {"name": "it", "path": "models/fr", "language": "it"}]},
        "experts.2.language: 'it' has no clips in the dev split of {tree}/data (it has de, es, fr)",
    ),
    "data language without an expert": (
        {"data": {"path": "data", "languages": ["de", "es", "fr", "it"]}},
        "data.languages: 'it' has no expert (experts cover de, es, fr)",
    ),
    "expert language left out of the data": (
        {"data": {"path": "data", "languages": ["de", "es"]}},
        "data.languages: the expert language 'fr' is not scored (add it to data.languages or remove the expert)",
    ),
    "two experts, one language": (
        {"experts": [*EXPERTS, {"name": "de2", "path": "models/de", "language": "de"}]},
        "experts: two experts have language 'de' (one expert per language)",
    ),
    "bad expert name": (
        {"experts": [*EXPERTS[:2], {"name": "f r", "path": "models/fr", "language": "fr"}]},
        "experts.2.name: expert name 'f r' must be letters, digits, '_' or '-' (it goes into parameter names)",
    ),
    "misspelt seed parameter": (
        {"seeds": [{"name": "mine", "params": {"enc.g0.ffn.densty": 0.3}}]},
        "seeds.0 (mine): unknown parameter 'enc.g0.ffn.densty' (did you mean 'enc.g0.ffn.density'?)",
    ),
    "seed outside its range": (
        {"seeds": ["paper_defaults", {"name": "mine", "params": {"dec.g1.ffn.density": 1.2}}]},
        "seeds.1 (mine): dec.g1.ffn.density = 1.2 is outside its range [0.02, 1.0, log]",
    ),
    "seed pattern matching nothing": (
        {"seeds": [{"name": "mine", "params": {"*.rank": 3}}]},
        "seeds.0 (mine): pattern '*.rank' matches no searched parameter",
    ),
    "unknown built-in seed": (
        {"seeds": ["paper_default"]},
        "seeds: seeds.0: unknown seed 'paper_default' (built-in: paper_defaults, task_arithmetic; or a custom {{name, params}})",
    ),
    "paper defaults outside the ranges": (
        {"density": {"low": 0.3, "high": 1.0}},
        ("seeds.0 (paper_defaults): sets enc.g0.self_attn.density = 0.2, outside its range [0.3, 1.0]; "
         "widen the range or drop paper_defaults from seeds"),
    ),
    "task arithmetic not representable": (
        {"rank_ratio": {"low": 0.01, "high": 0.5, "log": True}, "density": {"low": 0.05, "high": 0.5}},
        ("seeds.1 (task_arithmetic): task arithmetic needs density 1.0 or full rank in group enc.g0.self_attn "
         "(rank_ratio [0.01, 0.5, log], density [0.05, 0.5]); widen a range (density high: 1.0 or rank_ratio "
         "high: 1.0) or drop task_arithmetic from seeds"),
    ),
    "task arithmetic with ties": (
        {"method": "ties", "seeds": ["paper_defaults", "task_arithmetic"]},
        ("seeds.1 (task_arithmetic): task arithmetic is not representable with method 'ties' (its sign election "
         "and disjoint mean differ from a plain sum at any density); drop task_arithmetic from seeds"),
    ),
    "group pattern matching nothing": (
        {"group_ranges": {"enc.*.cross_attn": {"density": 0.5}}},
        ("group_ranges.enc.*.cross_attn: matches no group (groups: enc.g0.self_attn, enc.g0.ffn, enc.g1.self_attn, "
         "enc.g1.ffn, dec.g0.self_attn, dec.g0.cross_attn, dec.g0.ffn, dec.g1.self_attn, dec.g1.cross_attn, dec.g1.ffn)"),
    ),
    "group larger than the stack": (
        {"groups": {"encoder": {"size": 3}}},
        "groups.encoder.size: 3 is more than the base's 2 encoder layers (use size: all for one group)",
    ),
    "fidelity not ascending": (
        {"fidelity": {"n_per_language": [4, 2, None]}},
        "fidelity.n_per_language: rungs must be strictly ascending, got [4, 2, None]",
    ),
    "fidelity whole split early": (
        {"fidelity": {"n_per_language": [None, 4]}},
        "fidelity.n_per_language: null (the whole split) can only be the last rung",
    ),
    "fidelity rung as large as the split": (
        {"fidelity": {"n_per_language": [2, 6]}},
        ("fidelity.n_per_language: rung 6 is not below the dev split's largest language (6 clips), so it is the whole "
         "split; use null for the last rung"),
    ),
    "multi with one objective": (
        {"objective": {"kind": "multi", "objectives": ["asr_wer"]}},
        "objective: kind multi needs at least two objectives, e.g. objectives: [asr_wer, st_bleu]",
    ),
    "unknown objective": (
        {"objective": {"kind": "multi", "objectives": ["asr_wer", "st_blue"]}},
        ("objective: unknown objective 'st_blue' (known: normalized_performance, gain_retained, asr_np, st_np, "
         "asr_gain_retained, st_gain_retained, asr_wer, asr_cer, st_bleu)"),
    ),
    "st objective without translation": (
        {"data": {"path": "data", "tasks": ["transcribe"]}, "objective": {"kind": "multi", "objectives": ["asr_wer", "st_bleu"]}},
        "objective.objectives: st_bleu needs the translate task in data.tasks",
    ),
    "cmaes with several objectives": (
        {"objective": {"kind": "multi", "objectives": ["asr_wer", "st_bleu"]}, "searcher": {"algorithm": "cmaes"}},
        "searcher.algorithm: cmaes is single-objective; use nsga2 or tpe for kind multi",
    ),
    "unknown searcher": (
        {"searcher": {"algorithm": "grid"}},
        "searcher.algorithm: Input should be 'tpe', 'cmaes', 'random' or 'nsga2'",
    ),
    "missing compare model": (
        {"compare": {"multitask": "models/multitask"}},
        "compare.multitask: no such directory {tree}/models/multitask",
    ),
    "zero trials": ({"budget": {"num_samples": 0}}, "budget.num_samples: Input should be greater than or equal to 1"),
}


@pytest.fixture(scope="module")
def bad_tree(tree: Path) -> Path:
    config_dir(tree / "models" / "wide", whisper_config(d_model=48))
    devless = tree / "devless"
    if not devless.exists():
        corpus_dir(devless)
        shutil.rmtree(devless / "dev")
        (devless / "dataset_dict.json").write_text('{"splits": ["train", "test"]}', encoding="utf-8")
    return tree


@pytest.mark.parametrize("case", list(CASES))
def test_bad_space_fails_with_one_clear_line(bad_tree: Path, case: str) -> None:
    changes, expected = CASES[case]
    path = write_space(bad_tree, space_dict(bad_tree, **changes), f"bad-{abs(hash(case))}.yaml")
    with pytest.raises(UserError) as caught:
        load_search_space(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message == f"search space {path}: " + expected.format(tree=bad_tree)


def test_unreadable_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"^cannot read search space .*nothing.yaml: No such file or directory$"):
        load_search_space(tmp_path / "nothing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(UserError, match=r"list.yaml must be a YAML mapping \(base, experts, data, ...\)$"):
        load_search_space(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("base: [\n")
    with pytest.raises(UserError, match=r"broken.yaml is not valid YAML: "):
        load_search_space(tmp_path / "broken.yaml")
