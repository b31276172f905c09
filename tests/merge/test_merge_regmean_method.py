"""The registered `regmean` method (Jin et al., ICLR 2023, arXiv 2212.09849) through the merge engine: exact
against an independent numpy float64 formula on tiny matrices with given Grams (merge_state_dicts and the
PreparedMerger), its declaration, the refusal of experts prepared without Grams, and shared Grams staying
shared when moved or sent through the object-store payload."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lors_search.errors import UserError
from lors_search.merging import MergeParams, PreparedMerger, describe_state, get_method, merge_state_dicts
from lors_search.merging.plan import resolve_plan
from lors_search.merging.prepared import prepare_expert
from lors_search.merging.regmean import DEFAULT_RIDGE
from lors_search.runtime.payload import from_payload, payload_bytes, to_payload

FC1 = "model.encoder.layers.0.fc1.weight"
FC2 = "model.encoder.layers.0.fc2.weight"
BIAS = "model.encoder.layers.0.fc1.bias"
OUT, IN = 6, 4


def tiny_problem(seed: int = 0, experts: int = 3):
    """A base of two eligible linear weights (fc1 (OUT, IN), fc2 (IN, OUT)) and a bias, experts around it,
    and each expert's SPD mean Gram per weight (inputs with per-expert column scales and offsets)."""
    rng = np.random.default_rng(seed)
    base = {
        FC1: torch.from_numpy(rng.standard_normal((OUT, IN))).float(),
        FC2: torch.from_numpy(rng.standard_normal((IN, OUT))).float(),
        BIAS: torch.from_numpy(rng.standard_normal(OUT)).float(),
    }
    states, grams = {}, {}
    for index in range(experts):
        name = f"e{index}"
        states[name] = {key: value + torch.from_numpy(rng.standard_normal(value.shape)).float() * 0.1
                        for key, value in base.items()}
        grams[name] = {}
        for key in (FC1, FC2):
            cols = base[key].shape[1]
            x = rng.standard_normal((30, cols)) * rng.uniform(0.3, 2.0, size=cols) + rng.standard_normal(cols)
            grams[name][key] = torch.from_numpy(x.T @ x / 30).float()
    return base, states, grams


def numpy_regmean(deltas, grams, alpha: float, scales) -> np.ndarray:
    """(sum_i s_i tau_i G_i~)(sum_i G_i~)^-1, G_i~ = alpha G_i + (1 - alpha) diag(G_i) + r I with the documented
    ridge r (relative to the mean diagonal entry), explicit inverse, float64."""
    gs = [np.asarray(g, dtype=np.float64) for g in grams]
    shift = DEFAULT_RIDGE * np.mean([np.diag(g) for g in gs])
    tildes = [alpha * g + (1 - alpha) * np.diag(np.diag(g)) + shift * np.eye(len(g)) for g in gs]
    numerator = sum(s * np.asarray(d, dtype=np.float64) @ t for s, d, t in zip(scales, deltas, tildes, strict=True))
    return numerator @ np.linalg.inv(sum(tildes))


def expected(base, states, grams, *, alpha: float, scales, dense_scale: float) -> dict[str, np.ndarray]:
    out = {}
    for key in (FC1, FC2):
        deltas = [(states[e][key] - base[key]).double().numpy() for e in states]
        out[key] = base[key].double().numpy() + numpy_regmean(deltas, [grams[e][key] for e in states], alpha, scales)
    out[BIAS] = base[BIAS].double().numpy() + dense_scale * sum((states[e][BIAS] - base[BIAS]).double().numpy()
                                                                for e in states)
    return out


def test_declaration() -> None:
    method = get_method("regmean")
    assert method.needs == ("gram",)
    assert method.defaults == {"scale": 1.0, "alpha": 0.9}
    assert method.param("dense_scale").default is None  # 1 / number of experts
    assert "2212.09849" in method.paper
    alpha = method.param("alpha")
    assert (alpha.low, alpha.high, alpha.per_expert) == (0.0, 1.0, False)


@pytest.mark.parametrize(
    ("params", "alpha", "scale", "dense"),
    [({}, 0.9, 1.0, 1 / 3), ({"alpha": 1.0, "scale": 0.7, "dense_scale": 0.5}, 1.0, 0.7, 0.5), ({"alpha": 0.0}, 0.0, 1.0, 1 / 3)],
)
def test_merge_state_dicts_matches_the_numpy_formula(params, alpha: float, scale: float, dense: float) -> None:
    base, states, grams = tiny_problem()
    merged = merge_state_dicts(base, states, MergeParams(method="regmean", params=params), grams=grams)
    want = expected(base, states, grams, alpha=alpha, scales=[scale] * 3, dense_scale=dense)
    for key, value in want.items():
        np.testing.assert_allclose(merged[key].double().numpy(), value, rtol=0, atol=2e-5, err_msg=key)


def test_per_expert_scales_weight_each_task_vector_inside_the_regression() -> None:
    base, states, grams = tiny_problem(seed=1)
    params = MergeParams.model_validate({
        "method": "regmean",
        "params": {"alpha": 0.5},
        "overrides": [{"select": {"expert": "e1"}, "set": {"scale": 0.25}}],
    })
    merged = merge_state_dicts(base, states, params, grams=grams)
    want = expected(base, states, grams, alpha=0.5, scales=[1.0, 0.25, 1.0], dense_scale=1 / 3)
    for key in (FC1, FC2):
        np.testing.assert_allclose(merged[key].double().numpy(), want[key], rtol=0, atol=2e-5, err_msg=key)


def test_prepared_merger_merges_in_place_as_the_one_shot_path() -> None:
    base, states, grams = tiny_problem(seed=2, experts=2)
    params = MergeParams(method="regmean", params={"alpha": 0.8, "scale": 0.9})
    plan = resolve_plan(params, describe_state(base), list(states))
    prepared = [prepare_expert(base, states[e], max_rank=plan.max_ranks(), name=e, grams=grams[e]) for e in states]
    target = {key: torch.empty_like(value) for key, value in base.items()}
    PreparedMerger(base, prepared).merge_into(target, "regmean", plan)
    want = expected(base, states, grams, alpha=0.8, scales=[0.9, 0.9], dense_scale=0.5)
    for key, value in want.items():
        np.testing.assert_allclose(target[key].double().numpy(), value, rtol=0, atol=2e-5, err_msg=key)


def test_experts_without_grams_are_refused_in_one_line() -> None:
    base, states, grams = tiny_problem()
    params = MergeParams(method="regmean")
    with pytest.raises(UserError, match=r"^regmean needs the Gram matrices .* expert 'e0' was prepared with no Gram"):
        merge_state_dicts(base, states, params)
    partial = {name: dict(g) for name, g in grams.items()}
    del partial["e2"][FC2]
    with pytest.raises(UserError, match=rf"expert 'e2' was prepared with no Gram matrix for '{FC2}'"):
        merge_state_dicts(base, states, params, grams=partial)
    # Methods that need no Grams ignore their absence.
    merge_state_dicts(base, states, MergeParams(method="task_arithmetic"))


def test_a_gram_of_the_wrong_size_is_refused() -> None:
    base, states, grams = tiny_problem()
    grams["e0"][FC1] = torch.eye(IN + 1)
    with pytest.raises(UserError, match=r"Gram matrix of .* has shape \(5, 5\), the layer takes 4 inputs"):
        merge_state_dicts(base, states, MergeParams(method="regmean"), grams=grams)


def test_shared_grams_stay_shared_when_moved_and_through_the_payload() -> None:
    base = {
        f"model.encoder.layers.0.self_attn.{p}_proj.weight": torch.randn(IN, IN) for p in ("q", "k", "v", "out")
    }
    expert = {key: value + 0.1 for key, value in base.items()}
    shared = torch.eye(IN) * 2
    grams = {key: shared for key in base if "out_proj" not in key}
    grams["model.encoder.layers.0.self_attn.out_proj.weight"] = torch.eye(IN)
    prepared = prepare_expert(base, expert, name="x", grams=grams)
    assert len({id(g) for g in prepared.grams.values()}) == 2
    moved = prepared.to("cpu")
    assert len({id(g) for g in moved.grams.values()}) == 2
    payload = to_payload(prepared)
    assert len(payload["grams"]) == 2 and len(payload["gram_aliases"]) == 2
    assert payload_bytes(payload) == sum(a.nbytes for a in payload["deltas"].values()) + 2 * IN * IN * 4
    back = from_payload(payload)
    assert back.grams.keys() == prepared.grams.keys()
    assert len({id(g) for g in back.grams.values()}) == 2
    assert all(torch.equal(back.grams[k], prepared.grams[k]) for k in grams)


def test_repeated_merges_reuse_the_unscaled_solution_only_while_it_applies() -> None:
    """A resident merger (the search's worker) merging trial after trial: scale-only changes reuse the stored
    RegMean solution, a new alpha or per-expert scales recompute; every result equals a fresh one-shot merge."""
    base, states, grams = tiny_problem(seed=3)
    prepared = [prepare_expert(base, states[e], name=e, grams=grams[e]) for e in states]
    merger = PreparedMerger(base, prepared)
    infos = describe_state(base)
    trials = [
        {"alpha": 0.9, "scale": 1.0},
        {"alpha": 0.9, "scale": 0.5},
        {"alpha": 0.3, "scale": 0.5},
        {"alpha": 0.9, "scale": 2.0},
    ]
    for values in trials:
        params = MergeParams(method="regmean", params=values)
        merged = merger.merge("regmean", resolve_plan(params, infos, list(states)))
        fresh = merge_state_dicts(base, states, params, grams=grams)
        assert all(torch.equal(merged[key], fresh[key]) for key in base), values
    per_expert = MergeParams.model_validate({
        "method": "regmean", "overrides": [{"select": {"expert": "e0"}, "set": {"scale": 0.1}}],
    })
    merged = merger.merge("regmean", resolve_plan(per_expert, infos, list(states)))
    want = expected(base, states, grams, alpha=0.9, scales=[0.1, 1.0, 1.0], dense_scale=1 / 3)
    np.testing.assert_allclose(merged[FC1].double().numpy(), want[FC1], rtol=0, atol=2e-5)
