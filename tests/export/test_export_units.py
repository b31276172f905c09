"""Pure pieces of export: metric comparison (exact by default, absolute tolerance), the rung schedule replayed
for verification, max-rank union, and the per-layer summary of a resolved plan (per-expert scales, ranges)."""

from __future__ import annotations

import math

import torch

from lors_search.export.build import combined_max_ranks
from lors_search.export.exporter import rung_schedule
from lors_search.export.layers import layer_parameters, markdown_table, span
from lors_search.export.verify import compare_cells
from lors_search.merging import MergeParams, Override, ParamValues, Selector, describe_state, resolve_plan

CELLS = {
    "de/transcribe": {"wer": 0.25, "cer": 0.1, "n": 10},
    "de/translate": {"bleu": 31.5, "chrf": 55.0, "n": 10},
}


def test_compare_cells_exact_and_tolerance() -> None:
    assert compare_cells(CELLS, {k: dict(v) for k, v in CELLS.items()}) == []
    moved = {k: dict(v) for k, v in CELLS.items()}
    moved["de/transcribe"]["wer"] = 0.25 + 1e-12
    assert compare_cells(CELLS, moved) == ["de/transcribe wer: trial 0.25, export 0.250000000001"]
    assert compare_cells(CELLS, moved, tolerance=1e-9) == []
    fewer = {k: dict(v) for k, v in CELLS.items()}
    fewer["de/translate"]["n"] = 9
    del fewer["de/transcribe"]
    problems = compare_cells(CELLS, fewer, tolerance=1.0)  # counts and cells never get a tolerance
    assert problems == ["de/transcribe missing after export", "de/translate n: trial 10 utterances, export 9"]
    nan = {"de/translate": {"bleu": math.nan, "n": 1}}
    assert compare_cells(nan, {"de/translate": {"bleu": math.nan, "n": 1}}) == []


def test_rung_schedule() -> None:
    assert rung_schedule([3, 10, 30], 30) == [3, 10, 30]
    assert rung_schedule([3, 10, 30], 10) == [3, 10]
    assert rung_schedule([30], 30) == [30]
    assert rung_schedule([], None) == [None]


def test_combined_max_ranks() -> None:
    assert combined_max_ranks({}, {}) == {}
    assert combined_max_ranks({"a": 3}, {"a": 5, "b": 1}, {"b": 0}) == {"a": 5, "b": 1}


def _state() -> dict[str, torch.Tensor]:
    state = {}
    for stack, layers in (("encoder", 2), ("decoder", 1)):
        for layer in range(layers):
            prefix = f"model.{stack}.layers.{layer}."
            for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                state[prefix + f"self_attn.{proj}.weight"] = torch.zeros(8, 8)
            state[prefix + "fc1.weight"] = torch.zeros(16, 8)
            state[prefix + "fc2.weight"] = torch.zeros(8, 16)
            state[prefix + "fc1.bias"] = torch.zeros(16)
    state["model.encoder.conv1.weight"] = torch.zeros(8, 4, 3)
    return state


def test_layer_parameters_resolve_overrides_per_module_and_expert() -> None:
    params = MergeParams(
        method="lors",
        params=ParamValues(rank=2, density=0.5, scale=0.5),
        overrides=(
            Override(select=Selector(stack="encoder", layers=1, module=("ffn",)), set=ParamValues(rank=6, density=0.1)),
            Override(select=Selector(expert=("es",)), set=ParamValues(scale=0.25)),
        ),
    )
    infos = describe_state(_state())
    plan = resolve_plan(params, infos, ["de", "es"])
    layers = layer_parameters(plan, infos)
    assert [(p.stack, p.layer, p.module) for p in layers] == [
        ("encoder", 0, "self_attn"), ("encoder", 0, "ffn"), ("encoder", 1, "self_attn"), ("encoder", 1, "ffn"),
        ("decoder", 0, "self_attn"), ("decoder", 0, "ffn"),
    ]
    enc1_ffn = layers[3]
    assert set(enc1_ffn.ranks) == {6} and set(enc1_ffn.densities) == {0.1}
    assert "model.encoder.layers.1.fc1.bias" in enc1_ffn.tensors  # dense tensors count for the scale
    assert enc1_ffn.scales == ((0.5,), (0.25,))
    assert set(layers[0].ranks) == {2} and set(layers[0].densities) == {0.5}
    table = markdown_table(layers, ["de", "es"])
    assert "| stack | layer | module | rank | density | scale de | scale es |" in table
    assert "| encoder | 1 | ffn | 6 | 0.1 | 0.5 | 0.25 |" in table


def test_layer_parameters_rank_ratio_ranges_and_methods_without_rank() -> None:
    infos = describe_state(_state())
    plan = resolve_plan(MergeParams(method="lors", params=ParamValues(rank_ratio=0.5)), infos, ["de"])
    ffn = layer_parameters(plan, infos)[1]
    assert set(ffn.ranks) == {4}  # min side 8 for fc1 (16x8) and fc2 (8x16)
    ta = resolve_plan(MergeParams(method="task_arithmetic"), infos, ["de", "es"])
    layers = layer_parameters(ta, infos, uses_rank=False, uses_density=False)
    assert all(p.ranks == () and p.densities == () and p.scales == ((0.5,), (0.5,)) for p in layers)
    assert span([]) == "-" and span([3, 3]) == "3" and span([2, 7]) == "2-7" and span([0.25, 0.5]) == "0.25-0.5"
