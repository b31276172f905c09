"""The merge YAML: the shipped examples validate and resolve on whisper-small shapes, shorthand expert
entries, relative paths, and one-line errors for invalid files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

from lors_search.errors import UserError
from lors_search.merge_config import config_from_flags, load_merge_config
from lors_search.merging import describe_state, resolve_plan

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("merge-*.yaml"))


@pytest.fixture(scope="module")
def whisper_small_shapes() -> dict:
    config = WhisperConfig(
        vocab_size=51865, d_model=768, encoder_layers=12, decoder_layers=12, encoder_attention_heads=12,
        decoder_attention_heads=12, encoder_ffn_dim=3072, decoder_ffn_dim=3072,
    )
    with torch.device("meta"):  # shapes only, no memory
        state = WhisperForConditionalGeneration(config).state_dict()
    state.pop("proj_out.weight")
    return describe_state(state)


def test_examples_exist() -> None:
    assert {path.name for path in EXAMPLES} >= {"merge-lors.yaml", "merge-ties-attention-only.yaml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_resolve_on_whisper_small(path: Path, whisper_small_shapes: dict) -> None:
    config = load_merge_config(path)
    names = [expert.name for expert in config.experts]
    plan = resolve_plan(config.merge_params(), whisper_small_shapes, names, config.effective_rules())
    assert len(plan.tensors) == len(whisper_small_shapes)


def test_lors_example_numbers(whisper_small_shapes: dict) -> None:
    config = load_merge_config(next(p for p in EXAMPLES if p.name == "merge-lors.yaml"))
    plan = resolve_plan(config.merge_params(), whisper_small_shapes, [e.name for e in config.experts])
    q = plan.tensors["model.encoder.layers.5.self_attn.q_proj.weight"]
    assert q.ranks == (7,) * 5 and q.keeps == (117_964,) * 5  # the reference's r = 7, rho = 0.2
    assert q.scales == (0.2, 0.25, 0.2, 0.2, 0.2)
    assert plan.tensors["model.decoder.layers.3.encoder_attn.k_proj.weight"].ranks == (16,) * 5
    assert plan.tensors["model.encoder.layers.2.fc1.weight"].keeps == (235_929,) * 5  # 0.1 * 3072 * 768
    assert plan.tensors["model.decoder.layers.11.fc2.weight"].ranks == (32,) * 5


def test_shorthand_experts_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "models" / "base").mkdir(parents=True)
    (tmp_path / "models" / "de-expert").mkdir()
    file = tmp_path / "merge.yaml"
    file.write_text(
        "base: models/base\nexperts: [models/de-expert, es=org/whisper-es, {path: x.pt}]\nmethod: sparse\n"
    )
    config = load_merge_config(file)
    assert config.base == str(tmp_path / "models" / "base")
    assert [(e.name, e.path) for e in config.experts] == [
        ("de-expert", str(tmp_path / "models" / "de-expert")),
        ("es", "org/whisper-es"),  # not a local path: left for the Hub
        ("x", "x.pt"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("base: b\nexperts: [e]\nmethod: lors\nparams: {density: 1.5}\n",
         "params.density: Input should be less than or equal to 1"),
        ("base: b\nexperts: [e]\nmethod: lors\nbogus: 1\n", "bogus: Extra inputs are not permitted"),
        ("base: b\nexperts: []\nmethod: lors\n", "experts"),
        ("base: b\nexperts: [a/e, b/e]\nmethod: lors\n", "two experts are named 'e'"),
        ("base: b\nexperts: [e]\nmethod: lors\nrules: [{pattern: '(', treatment: dense}]\n", "not a valid regular expression"),
        ("base: b\nexperts: [e]\nmethod: lors\nrules: [{pattern: '.*', treatment: prune}]\n", "treatment"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("base: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_files_give_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "merge.yaml"
    file.write_text(text)
    with pytest.raises(UserError, match=message) as caught:
        load_merge_config(file)
    assert "\n" not in str(caught.value)


def test_flags_build_the_same_object_as_yaml(tmp_path: Path) -> None:
    file = tmp_path / "merge.yaml"
    file.write_text("base: b\nexperts: [de=d, es=e]\nmethod: lors\nparams: {rank: 4, density: 0.3, scale: 0.5}\n")
    from_flags = config_from_flags(base="b", experts=["de=d", "es=e"], method="lors", rank=4, density=0.3, scale=0.5)
    assert from_flags == load_merge_config(file)
    with pytest.raises(UserError, match=r"^--density: Input should be less than or equal to 1$"):
        config_from_flags(base="b", experts=["e"], method="lors", density=1.5)
