"""Prepare once, merge many: the prepared per-call merge equals the one-shot merge, writes the same numbers
in place into a resident model, travels through pickle, and refuses plans it was not prepared for."""

from __future__ import annotations

import pickle
import re

import pytest
import torch
from transformers import WhisperForConditionalGeneration

from lors_search.merging import (
    DEFAULT_RULES,
    MergeParams,
    MergeRule,
    PreparedMerger,
    describe_state,
    merge_state_dicts,
    prepare_expert,
    resolve_plan,
)

PLANS = [
    ("lors", {"rank": 4, "density": 0.3, "scale": 0.25}),
    ("lors", {"rank_ratio": 0.2, "density": 0.05}),
    ("lowrank", {"rank": 6}),
    ("sparse", {"density": 0.4}),
    ("ties", {"density": 0.3}),
    ("dare", {"density": 0.5, "seed": 3}),
    ("task_arithmetic", {"scale": 0.5}),
]


@pytest.fixture(scope="module")
def merger(tiny) -> PreparedMerger:
    # Factors kept up to rank 8: enough for every plan above (rank_ratio 0.2 of 32 is 6).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see conftest._single_thread
    try:
        experts = [prepare_expert(tiny.base, state, max_rank=8, name=name) for name, state in tiny.experts.items()]
    finally:
        torch.set_num_threads(threads)
    return PreparedMerger(tiny.base, experts)


def plan(tiny, method: str, params: dict):
    return resolve_plan(MergeParams(method=method, params=params), describe_state(tiny.base), list(tiny.experts))


@pytest.mark.parametrize(("method", "params"), PLANS)
def test_prepared_merge_equals_one_shot_merge(tiny, merger: PreparedMerger, method: str, params: dict) -> None:
    one_shot = merge_state_dicts(tiny.base, tiny.experts, MergeParams(method=method, params=params))
    prepared = merger.merge(method, plan(tiny, method, params))
    assert prepared.keys() == one_shot.keys()
    for name in one_shot:
        assert torch.equal(prepared[name], one_shot[name]), name


def test_merge_into_a_resident_model_writes_the_same_numbers(tiny, merger: PreparedMerger) -> None:
    model = WhisperForConditionalGeneration(tiny.config)
    parameters = dict(model.named_parameters())
    assert "proj_out.weight" not in parameters  # tied: listed once
    for method, params in PLANS:  # one resident model, many merges in a row: no state leaks between them
        resolved = plan(tiny, method, params)
        merger.merge_into(parameters, method, resolved)
        expected = merger.merge(method, resolved)
        for name, tensor in expected.items():
            assert torch.equal(parameters[name].detach(), tensor), (method, name)
    # The tied output projection follows the merged embedding.
    assert torch.equal(model.proj_out.weight, parameters["model.decoder.embed_tokens.weight"])


def test_merge_into_half_precision_state_dict_with_tied_alias(tiny, merger: PreparedMerger) -> None:
    model = WhisperForConditionalGeneration(tiny.config).half()
    state = model.state_dict()  # includes proj_out.weight, sharing the embedding's storage
    resolved = plan(tiny, "lors", {"rank": 3, "density": 0.2})
    merger.merge_into(state, "lors", resolved)
    expected = merger.merge("lors", resolved)
    for name, tensor in expected.items():
        # fp32 maths, one rounding to fp16 at the end
        assert state[name].dtype == torch.float16
        assert torch.equal(state[name], tensor.half()), name


def test_prepared_expert_survives_pickling(tiny, merger: PreparedMerger) -> None:
    copies = [pickle.loads(pickle.dumps(expert)) for expert in merger.experts]
    again = PreparedMerger(tiny.base, copies)
    resolved = plan(tiny, "lors", {"rank": 8, "density": 0.1})
    first, second = merger.merge("lors", resolved), again.merge("lors", resolved)
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_prepare_keeps_factors_only_for_eligible_matrices(tiny, merger: PreparedMerger) -> None:
    expert = merger.experts[0]
    assert len(expert.factors) == 32
    assert all(us.shape[1] == 8 and vh.shape[0] == 8 for us, vh in expert.factors.values())
    assert "model.encoder.embed_positions.weight" not in expert.deltas
    assert all(delta.dtype == torch.float32 for delta in expert.deltas.values())
    sparse_only = prepare_expert(tiny.base, tiny.experts["de"], max_rank=0, name="de")
    assert all(us.shape[1] == 0 for us, _ in sparse_only.factors.values())


def test_mismatched_plans_and_targets_are_refused(tiny, merger: PreparedMerger) -> None:
    with pytest.raises(ValueError, match="prepared only up to rank 8"):
        merger.merge("lors", plan(tiny, "lors", {"rank": 9}))
    with pytest.raises(ValueError, match="resolved for method 'lors'"):
        merger.merge("sparse", plan(tiny, "lors", {"rank": 2}))
    two = resolve_plan(MergeParams(method="lors"), describe_state(tiny.base), ["de", "es"])
    with pytest.raises(ValueError, match="experts"):
        merger.merge("lors", two)
    target = {name: tensor.clone() for name, tensor in tiny.base.items()}
    del target["model.encoder.conv1.bias"]
    with pytest.raises(ValueError, match=re.escape("lacks tensor 'model.encoder.conv1.bias'")):
        merger.merge_into(target, "lors", plan(tiny, "lors", {"rank": 2}))
    attention_only = [rule for rule in DEFAULT_RULES if "fc" not in rule.pattern]
    attention_only.append(MergeRule(pattern=r".*fc[12]\.weight", treatment="dense"))
    other_rules = resolve_plan(MergeParams(method="lors"), describe_state(tiny.base), list(tiny.experts), attention_only)
    with pytest.raises(ValueError, match="prepared under other merge rules"):
        merger.merge("lors", other_rules)
    with pytest.raises(ValueError, match="own base tensor"):
        merger.merge_into(merger.base, "lors", plan(tiny, "lors", {"rank": 2}))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_prepared_merge_on_cuda_matches_cpu(tiny, merger: PreparedMerger) -> None:
    base = {name: tensor.cuda() for name, tensor in tiny.base.items()}
    gpu = PreparedMerger(base, [expert.to("cuda") for expert in merger.experts])
    resolved = plan(tiny, "lors", {"rank": 4, "density": 0.3})
    on_gpu, on_cpu = gpu.merge("lors", resolved), merger.merge("lors", resolved)
    for name in on_cpu:
        torch.testing.assert_close(on_gpu[name].cpu(), on_cpu[name], rtol=0, atol=1e-5)
