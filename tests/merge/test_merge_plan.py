"""Parameter resolution: globals, rank forms, ordered overrides by stack / layer / module / kind / expert,
and the errors for out-of-range or misplaced values."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from lors_search.errors import UserError
from lors_search.merging import MergeParams, describe_state, merge_state_dicts, resolve_plan, resolve_rank

CROSS_1 = "model.decoder.layers.1.encoder_attn."


def plan_for(tiny, raw: dict):
    return resolve_plan(MergeParams.model_validate(raw), describe_state(tiny.base), list(tiny.experts))


def test_rank_forms_and_caps() -> None:
    assert resolve_rank(None, 0.01, (768, 3072)) == 7  # the paper's default: 1 % of d_model
    assert resolve_rank(None, 0.01, (32, 64)) == 1  # at least 1
    assert resolve_rank(None, 0.0, (32, 64)) == 0
    assert resolve_rank(None, 0.29, (100, 300)) == 29  # read as a decimal, not 28.999...
    assert resolve_rank(100, None, (32, 64)) == 32  # capped at the smaller side
    assert resolve_rank(None, None, (32, 64)) == 0


def test_defaults_resolve_per_method(tiny) -> None:
    plan = plan_for(tiny, {"method": "lors"})
    fc1 = plan.tensors["model.encoder.layers.0.fc1.weight"]  # 64 x 32
    assert fc1.ranks == (1, 1, 1) and fc1.keeps == (409,) * 3  # floor(0.2 * 2048)
    assert fc1.scales == pytest.approx((1 / 3,) * 3)
    assert plan_for(tiny, {"method": "ties"}).tensors["model.encoder.layers.0.fc1.weight"].scales == (1.0,) * 3
    assert plan.max_ranks()["model.encoder.layers.0.fc1.weight"] == 1


def test_overrides_touch_only_what_they_select(tiny) -> None:
    plan = plan_for(
        tiny,
        {
            "method": "lors",
            "params": {"rank": 2, "density": 0.1},
            "overrides": [{"select": {"stack": "decoder", "layers": [1, 1], "module": "cross_attn"}, "set": {"rank": 5}}],
        },
    )
    for name, tensor in plan.tensors.items():
        if tensor.treatment != "lowrank_sparse":
            continue
        expected = 5 if name.startswith(CROSS_1) else 2
        assert tensor.ranks == (expected,) * 3, name


def test_later_overrides_win_and_experts_can_differ(tiny) -> None:
    plan = plan_for(
        tiny,
        {
            "method": "lors",
            "params": {"rank_ratio": 0.5, "scale": 0.2},
            "overrides": [
                {"select": {"kind": ["fc1", "fc2"]}, "set": {"rank": 3}},
                {"select": {"kind": "fc1", "stack": "encoder", "layers": 1}, "set": {"rank_ratio": 0.25}},
                {"select": {"expert": "es"}, "set": {"scale": 0.7}},
                {"select": {"tensor": r".*conv1\.weight"}, "set": {"scale": 0.0}},
            ],
        },
    )
    assert plan.tensors["model.encoder.layers.0.self_attn.q_proj.weight"].ranks == (16, 16, 16)
    assert plan.tensors["model.encoder.layers.0.fc1.weight"].ranks == (3, 3, 3)
    assert plan.tensors["model.encoder.layers.1.fc1.weight"].ranks == (8, 8, 8)  # 0.25 * 32
    assert plan.tensors["model.decoder.layers.1.fc2.weight"].scales == (0.2, 0.7, 0.2)
    assert plan.tensors["model.encoder.conv1.weight"].scales == (0.0, 0.0, 0.0)
    assert plan.tensors["model.encoder.conv2.weight"].scales == (0.2, 0.7, 0.2)


def test_override_changes_only_the_named_tensors_in_the_merge(tiny) -> None:
    plain = merge_state_dicts(tiny.base, tiny.experts, MergeParams(method="lors", params={"rank": 2}))
    muted = merge_state_dicts(
        tiny.base,
        tiny.experts,
        MergeParams.model_validate(
            {
                "method": "lors",
                "params": {"rank": 2},
                "overrides": [{"select": {"stack": "decoder", "layers": 1, "module": "cross_attn"}, "set": {"scale": 0.0}}],
            }
        ),
    )
    changed = {name for name in plain if not torch.equal(plain[name], muted[name])}
    expected = {name for name in plain if name.startswith((CROSS_1, "model.decoder.layers.1.encoder_attn_layer_norm."))}
    assert changed == expected and len(expected) == 9  # q/k/v/out weights, 3 biases (k has none), the norm's 2
    for name in expected:
        assert torch.equal(muted[name], tiny.base[name])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"method": "lors", "params": {"density": 1.5}}, "less than or equal to 1"),
        ({"method": "lors", "params": {"rank": -1}}, "greater than or equal to 0"),
        ({"method": "lors", "params": {"rank": 2.5}}, "valid integer"),
        ({"method": "lors", "params": {"rank": 2, "rank_ratio": 0.1}}, "either rank or rank_ratio"),
        ({"method": "ties", "params": {"rank": 2}}, "method 'ties' takes no parameter 'rank'"),
        ({"method": "lors", "params": {"seed": 1}}, "takes no parameter 'seed'"),
        ({"method": "lors", "params": {"temperature": 1}}, "Extra inputs are not permitted"),
        ({"method": "lors", "params": {"scale": float("nan")}}, "finite number"),
        ({"method": "magic"}, "unknown merge method 'magic'"),
        ({"method": "lors", "overrides": [{"select": {"module": "attention"}, "set": {"rank": 1}}]}, "module"),
        ({"method": "lors", "overrides": [{"select": {"kind": "q_prj"}, "set": {"rank": 1}}]}, "kind"),
        ({"method": "lors", "overrides": [{"select": {"layers": [3, 1]}, "set": {"rank": 1}}]}, "layer range"),
        ({"method": "lors", "overrides": [{"select": {"stack": "decoder"}, "set": {}}]}, "at least one parameter"),
        ({"method": "dare", "overrides": [{"select": {"stack": "decoder"}, "set": {"rank": 1}}]}, "overrides\\[0\\]"),
    ],
)
def test_invalid_parameters_are_refused(raw: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        MergeParams.model_validate(raw)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"select": {"expert": "klingon"}, "set": {"scale": 1.0}}, "expert 'klingon', which is not among"),
        ({"select": {"layers": 7}, "set": {"rank": 1}}, "selects no tensor"),
        ({"select": {"stack": "encoder", "module": "cross_attn"}, "set": {"rank": 1}}, "selects no tensor"),
    ],
)
def test_overrides_that_select_nothing_are_refused(tiny, override: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        plan_for(tiny, {"method": "lors", "overrides": [override]})
