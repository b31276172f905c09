"""Tensor descriptions from HF Whisper names, and the merge rules' coverage check."""

from __future__ import annotations

import pytest

from lors_search.errors import UserError
from lors_search.merging import DEFAULT_RULES, MergeRule, assign_treatments, describe_tensor


@pytest.mark.parametrize(
    ("name", "stack", "layer", "module", "kind", "param"),
    [
        ("model.encoder.layers.3.self_attn.q_proj.weight", "encoder", 3, "self_attn", "q_proj", "weight"),
        ("model.decoder.layers.11.encoder_attn.out_proj.bias", "decoder", 11, "cross_attn", "out_proj", "bias"),
        ("model.decoder.layers.0.self_attn.k_proj.weight", "decoder", 0, "self_attn", "k_proj", "weight"),
        ("model.encoder.layers.1.fc2.weight", "encoder", 1, "ffn", "fc2", "weight"),
        ("model.decoder.layers.2.final_layer_norm.weight", "decoder", 2, "ffn", "final_layer_norm", "weight"),
        ("model.decoder.layers.2.encoder_attn_layer_norm.bias", "decoder", 2, "cross_attn", "encoder_attn_layer_norm", "bias"),
        ("model.encoder.conv1.weight", "encoder", None, None, "conv1", "weight"),
        ("model.encoder.layer_norm.bias", "encoder", None, None, "layer_norm", "bias"),
        ("model.decoder.embed_tokens.weight", "decoder", None, None, "embed_tokens", "weight"),
        ("proj_out.weight", None, None, None, "proj_out", "weight"),
        ("something.else", None, None, None, None, None),
    ],
)
def test_describe_tensor(name: str, stack: str, layer: int, module: str, kind: str, param: str) -> None:
    info = describe_tensor(name, (4, 2))
    assert (info.stack, info.layer, info.module, info.kind, info.param) == (stack, layer, module, kind, param)
    assert info.shape == (4, 2) and info.numel == 8


def test_default_rules_cover_whisper_as_the_reference_does(tiny) -> None:
    treatments = assign_treatments(tiny.base)
    eligible = sorted(name for name, t in treatments.items() if t == "lowrank_sparse")
    # Per encoder layer: q, k, v, out + fc1, fc2; per decoder layer also the cross-attention's four.
    assert len(eligible) == 2 * 6 + 2 * 10
    assert all(name.endswith(".weight") for name in eligible)
    assert treatments["model.encoder.embed_positions.weight"] == "base"
    assert treatments["model.decoder.embed_positions.weight"] == "dense"
    assert treatments["model.decoder.embed_tokens.weight"] == "dense"
    assert treatments["model.encoder.layers.0.fc1.bias"] == "dense"
    assert treatments["model.encoder.conv2.weight"] == "dense"
    assert {t for t in treatments.values()} == {"lowrank_sparse", "dense", "base"}


def test_coverage_check_names_an_uncovered_tensor(tiny) -> None:
    rules = [rule for rule in DEFAULT_RULES if "conv" not in rule.pattern]
    with pytest.raises(UserError, match=r"'model\.encoder\.conv1\.weight' is covered by no merge rule"):
        assign_treatments(tiny.base, rules)


def test_overlapping_rules_are_refused(tiny) -> None:
    rules = [*DEFAULT_RULES, MergeRule(pattern=r".*fc1\.weight", treatment="dense")]
    with pytest.raises(UserError, match="more than one merge rule"):
        assign_treatments(tiny.base, rules)


def test_rules_are_configurable_data(tiny) -> None:
    # Only attention eligible: fc1/fc2 weights move to plain task arithmetic.
    rules = [
        MergeRule(pattern=r".*_attn\.(q|k|v|out)_proj\.weight", treatment="lowrank_sparse"),
        MergeRule(pattern=r".*fc[12]\.weight", treatment="dense"),
        *DEFAULT_RULES[2:],
    ]
    treatments = assign_treatments(tiny.base, rules)
    assert treatments["model.encoder.layers.0.fc1.weight"] == "dense"
    assert treatments["model.encoder.layers.0.self_attn.v_proj.weight"] == "lowrank_sparse"


def test_bad_rule_pattern_is_refused() -> None:
    with pytest.raises(ValueError, match="not a valid regular expression"):
        MergeRule(pattern="(", treatment="dense")
