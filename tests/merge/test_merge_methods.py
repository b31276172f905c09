"""The merge methods' exact identities, hand-computed TIES and DARE examples, and LoRS against the
authors' per-merge procedure (full SVD + torch.topk on every call)."""

from __future__ import annotations

import pytest
import torch

from lors_search.merging import MergeParams, merge_state_dicts, method_names, truncated_svd
from lors_search.merging.dare import derive_seed
from lors_search.merging.reference import reference_lors_merge
from lors_search.merging.rules import assign_treatments

FC1 = "model.encoder.layers.0.fc1.weight"  # an eligible name, for hand-made one-tensor "models"


def merge(tiny, method: str, **params: object) -> dict[str, torch.Tensor]:
    return merge_state_dicts(tiny.base, tiny.experts, MergeParams(method=method, params=params))


def test_lors_full_rank_density_one_equals_task_arithmetic(tiny) -> None:
    lors = merge(tiny, "lors", rank=10_000, density=1.0, scale=0.4)
    arithmetic = merge(tiny, "task_arithmetic", scale=0.4)
    assert lors.keys() == arithmetic.keys() == tiny.base.keys()
    for name in lors:
        assert torch.equal(lors[name], arithmetic[name]), name


def test_rank_zero_density_zero_leaves_eligible_matrices_at_the_base(tiny) -> None:
    merged = merge(tiny, "lors", rank=0, density=0.0, scale=0.5)
    arithmetic = merge(tiny, "task_arithmetic", scale=0.5)
    treatments = assign_treatments(tiny.base)
    for name, treatment in treatments.items():
        if treatment in ("lowrank_sparse", "base"):
            assert torch.equal(merged[name], tiny.base[name]), name
        else:
            assert torch.equal(merged[name], arithmetic[name]), name
            assert not torch.equal(merged[name], tiny.base[name]), name


def test_lowrank_method_adds_the_truncated_svd(tiny) -> None:
    expert = {"de": tiny.experts["de"]}
    merged = merge_state_dicts(tiny.base, expert, MergeParams(method="lowrank", params={"rank": 5, "scale": 1.0}))
    for name in (FC1, "model.decoder.layers.1.encoder_attn.v_proj.weight"):
        delta = tiny.experts["de"][name] - tiny.base[name]
        torch.testing.assert_close(merged[name], tiny.base[name] + truncated_svd(delta, 5), rtol=0, atol=1e-6)


def test_lors_matches_the_per_merge_reference(tiny) -> None:
    merged = merge(tiny, "lors", rank=3, density=0.2, scale=0.3)
    reference = reference_lors_merge(tiny.base, list(tiny.experts.values()), rank=3, density=0.2, scale=0.3)
    for name in merged:
        torch.testing.assert_close(merged[name], reference[name], rtol=0, atol=1e-6)


def test_sparse_keeps_exactly_k_entries_of_the_task_vector() -> None:
    generator = torch.Generator().manual_seed(5)
    delta = torch.randn(10, 30, generator=generator)
    base = {FC1: torch.zeros(10, 30)}
    merged = merge_state_dicts(base, {"a": {FC1: delta}}, MergeParams(method="sparse", params={"density": 0.25, "scale": 1.0}))
    kept = merged[FC1] != 0
    assert int(kept.sum()) == 75  # floor(0.25 * 300)
    assert torch.equal(merged[FC1][kept], delta[kept])
    assert delta[kept].abs().min() >= delta[~kept].abs().max()


def test_ties_hand_computed() -> None:
    taus = [
        torch.tensor([[3.0, -1.0, 2.0], [0.5, -4.0, 1.0]]),
        torch.tensor([[-2.0, -3.0, 1.0], [2.0, 1.0, -0.5]]),
        torch.tensor([[4.0, 2.0, -5.0], [-1.0, 0.2, 3.0]]),
    ]
    base = {FC1: torch.full((2, 3), 10.0)}
    experts = {f"e{i}": {FC1: base[FC1] + tau} for i, tau in enumerate(taus)}
    # density 0.5 keeps 3 of 6 per expert: [3,.,2;.,-4,.], [-2,-3,.;2,.,.], [4,.,-5;.,.,3]; elected signs
    # [+,-,-;+,-,+]; disjoint means [(3+4)/2, -3, -5; 2, -4, 3].
    merged = merge_state_dicts(base, experts, MergeParams(method="ties", params={"density": 0.5}))
    assert torch.equal(merged[FC1], base[FC1] + torch.tensor([[3.5, -3.0, -5.0], [2.0, -4.0, 3.0]]))
    scaled = merge_state_dicts(base, experts, MergeParams(method="ties", params={"density": 0.5, "scale": 0.5}))
    assert torch.equal(scaled[FC1], base[FC1] + 0.5 * torch.tensor([[3.5, -3.0, -5.0], [2.0, -4.0, 3.0]]))


def test_ties_with_density_one_and_agreeing_experts_is_their_mean() -> None:
    base = {FC1: torch.zeros(1, 2)}
    experts = {"a": {FC1: torch.tensor([[1.0, -2.0]])}, "b": {FC1: torch.tensor([[3.0, -4.0]])}}
    merged = merge_state_dicts(base, experts, MergeParams(method="ties", params={"density": 1.0}))
    assert torch.equal(merged[FC1], torch.tensor([[2.0, -3.0]]))


def test_dare_hand_computed_and_reproducible_by_seed() -> None:
    delta = torch.arange(1.0, 41.0).reshape(5, 8)
    base = {FC1: torch.zeros(5, 8)}
    params = MergeParams(method="dare", params={"density": 0.25, "scale": 1.0, "seed": 7})
    merged = merge_state_dicts(base, {"a": {FC1: delta}}, params)[FC1]
    generator = torch.Generator().manual_seed(derive_seed(7, FC1, 0))
    survive = torch.rand((5, 8), generator=generator) < 0.25
    assert torch.equal(merged, torch.where(survive, delta * 4.0, torch.zeros(())))  # rescaled by 1/0.25
    assert 0 < int(survive.sum()) < 40
    again = merge_state_dicts(base, {"a": {FC1: delta}}, params)[FC1]
    assert torch.equal(again, merged)
    other_seed = MergeParams(method="dare", params={"density": 0.25, "scale": 1.0, "seed": 8})
    other = merge_state_dicts(base, {"a": {FC1: delta}}, other_seed)
    assert not torch.equal(other[FC1], merged)


def test_dare_density_one_is_task_arithmetic(tiny) -> None:
    dare = merge(tiny, "dare", density=1.0, scale=0.3)
    arithmetic = merge(tiny, "task_arithmetic", scale=0.3)
    assert all(torch.equal(dare[name], arithmetic[name]) for name in dare)


@pytest.mark.parametrize("method", method_names())
def test_every_method_gives_finite_weights_in_the_base_dtype(tiny, method: str) -> None:
    from merge_fixtures import random_grams

    from lors_search.merging import get_method

    half_base = {name: tensor.half() for name, tensor in tiny.base.items()}
    # Methods that need prepared Grams (RegMean) get random positive definite ones.
    grams = (
        {name: random_grams(tiny.base, seed) for seed, name in enumerate(tiny.experts)}
        if "gram" in get_method(method).needs
        else None
    )
    merged = merge_state_dicts(half_base, tiny.experts, MergeParams(method=method), grams=grams)
    assert merged.keys() == tiny.base.keys()
    assert all(t.dtype == torch.float16 and bool(torch.isfinite(t).all()) for t in merged.values())
    assert torch.equal(merged["model.encoder.embed_positions.weight"], half_base["model.encoder.embed_positions.weight"])
