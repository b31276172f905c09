"""The interference-aware recombinations (Iso-C, Iso-CTS, TSV-M), each against an independent float64
numpy formula on small random matrices, their dense-tensor rule, and TIES / DARE on every tensor."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lors_search.merging import MergeParams, merge_state_dicts
from lors_search.merging.reference import reference_pruned
from lors_search.merging.rules import assign_treatments

FC1 = "model.encoder.layers.0.fc1.weight"  # eligible (lowrank_sparse)
BIAS = "model.encoder.layers.0.fc1.bias"  # dense


def _experts(shape: tuple[int, int], n: int, seed: int = 0) -> tuple[dict, dict[str, dict]]:
    generator = torch.Generator().manual_seed(seed)
    base = {FC1: torch.randn(*shape, generator=generator), BIAS: torch.randn(shape[0], generator=generator)}
    experts = {
        f"e{i}": {name: tensor + 0.1 * torch.randn(tensor.shape, generator=generator) for name, tensor in base.items()}
        for i in range(n)
    }
    return base, experts


def _taus(base: dict, experts: dict[str, dict], name: str) -> list[np.ndarray]:
    return [(expert[name].double() - base[name].double()).numpy() for expert in experts.values()]


def _polar(matrix: np.ndarray) -> np.ndarray:
    p, _, qh = np.linalg.svd(matrix, full_matrices=False)
    return p @ qh


def _merged_delta(merged: dict, base: dict, name: str) -> np.ndarray:
    return (merged[name].double() - base[name].double()).numpy()


@pytest.mark.parametrize("shape", [(12, 7), (6, 15)])
def test_iso_c_is_the_flattened_spectrum_of_the_scaled_sum(shape: tuple[int, int]) -> None:
    base, experts = _experts(shape, 3)
    merged = merge_state_dicts(base, experts, MergeParams(method="iso_c", params={"scale": 1.3}))
    total = 1.3 * sum(_taus(base, experts, FC1))
    u, s, vh = np.linalg.svd(total, full_matrices=False)
    expected = s.mean() * u @ vh
    np.testing.assert_allclose(_merged_delta(merged, base, FC1), expected, rtol=0, atol=2e-5)
    # Every singular value of the merged update is the same: the spectrum is flat.
    spectrum = np.linalg.svd(_merged_delta(merged, base, FC1), compute_uv=False)
    np.testing.assert_allclose(spectrum, np.full_like(spectrum, s.mean()), rtol=1e-4)


def test_iso_c_dense_tensors_follow_task_arithmetic_at_dense_scale() -> None:
    base, experts = _experts((8, 5), 4)
    default = merge_state_dicts(base, experts, MergeParams(method="iso_c"))
    expected = sum(_taus(base, experts, BIAS)) / 4  # default dense_scale = 1 / N: the experts' mean
    np.testing.assert_allclose(_merged_delta(default, base, BIAS), expected, rtol=0, atol=1e-6)
    chosen = merge_state_dicts(base, experts, MergeParams(method="iso_c", params={"dense_scale": 0.6, "scale": 2.0}))
    np.testing.assert_allclose(_merged_delta(chosen, base, BIAS), 0.6 * sum(_taus(base, experts, BIAS)), rtol=0, atol=1e-6)


def test_iso_c_after_lors_pruning_flattens_the_sum_of_pruned_task_vectors() -> None:
    base, experts = _experts((10, 9), 3, seed=4)
    params = {"rank": 2, "density": 0.3, "scale": 0.5}
    merged = merge_state_dicts(base, experts, MergeParams(method="iso_c", params=params))
    pruned = [
        reference_pruned(torch.from_numpy(tau), 2, 0.3).double().numpy() for tau in _taus(base, experts, FC1)
    ]
    u, s, vh = np.linalg.svd(0.5 * sum(pruned), full_matrices=False)
    np.testing.assert_allclose(_merged_delta(merged, base, FC1), s.mean() * u @ vh, rtol=0, atol=2e-5)


def _iso_cts_reference(taus: list[np.ndarray], scale: float, fraction: float) -> np.ndarray:
    total = scale * sum(taus)
    u, s, vh = np.linalg.svd(total, full_matrices=False)
    r = s.size
    k = math.floor(fraction * r)
    per_task = (r - k) // len(taus)
    lefts, rights, values = [u[:, :k]], [vh[:k].T], [s[:k]]
    projector = np.eye(total.shape[0]) - u[:, :k] @ u[:, :k].T
    for tau in taus:
        ui, si, vhi = np.linalg.svd(projector @ (scale * tau), full_matrices=False)
        lefts.append(ui[:, :per_task])
        rights.append(vhi[:per_task].T)
        values.append(si[:per_task])
    spectrum = np.concatenate(values)
    return spectrum.mean() * _polar(np.concatenate(lefts, axis=1)) @ _polar(np.concatenate(rights, axis=1)).T


@pytest.mark.parametrize(("fraction", "n"), [(0.8, 3), (0.5, 2), (1.0, 3)])
def test_iso_cts_common_plus_task_specific_subspaces(fraction: float, n: int) -> None:
    base, experts = _experts((14, 10), n, seed=2)
    params = {"scale": 0.9, "common_fraction": fraction}
    merged = merge_state_dicts(base, experts, MergeParams(method="iso_cts", params=params))
    expected = _iso_cts_reference(_taus(base, experts, FC1), 0.9, fraction)
    np.testing.assert_allclose(_merged_delta(merged, base, FC1), expected, rtol=0, atol=5e-5)


def test_iso_cts_with_the_whole_rank_common_is_iso_c() -> None:
    base, experts = _experts((9, 9), 3, seed=8)
    cts = merge_state_dicts(base, experts, MergeParams(method="iso_cts", params={"common_fraction": 1.0}))
    iso = merge_state_dicts(base, experts, MergeParams(method="iso_c"))
    torch.testing.assert_close(cts[FC1], iso[FC1], rtol=0, atol=1e-5)


def _tsv_reference(taus: list[np.ndarray], scale: float, k: int) -> np.ndarray:
    lefts, rights, values = [], [], []
    for tau in taus:
        u, s, vh = np.linalg.svd(tau, full_matrices=False)
        lefts.append(u[:, :k])
        rights.append(vh[:k].T)
        values.append(scale * s[:k])
    u_perp = _polar(np.concatenate(lefts, axis=1))
    v_perp = _polar(np.concatenate(rights, axis=1))
    return u_perp @ np.diag(np.concatenate(values)) @ v_perp.T


@pytest.mark.parametrize(("fraction", "n", "k"), [(1.0, 3, 4), (0.5, 3, 2), (0.05, 2, 1)])
def test_tsv_m_whitens_each_experts_top_singular_vectors(fraction: float, n: int, k: int) -> None:
    base, experts = _experts((16, 12), n, seed=3)
    # k = max(1, floor(fraction * 12 / n)): 1.0 and 3 experts -> 4 (the paper's r / N), 0.5 -> 2, 0.05 -> 1.
    assert k == max(1, math.floor(fraction * 12 / n))
    params = {"scale": 0.7, "sv_fraction": fraction}
    merged = merge_state_dicts(base, experts, MergeParams(method="tsv_m", params=params))
    expected = _tsv_reference(_taus(base, experts, FC1), 0.7, k)
    np.testing.assert_allclose(_merged_delta(merged, base, FC1), expected, rtol=0, atol=5e-5)


def test_tsv_m_of_one_expert_at_full_rank_is_its_task_vector() -> None:
    base, experts = _experts((7, 5), 1, seed=9)
    merged = merge_state_dicts(base, experts, MergeParams(method="tsv_m", params={"scale": 1.0, "dense_scale": 1.0}))
    tau = _taus(base, experts, FC1)[0]
    np.testing.assert_allclose(_merged_delta(merged, base, FC1), tau, rtol=0, atol=2e-5)


def test_ties_applies_to_every_tensor_not_a_sum_at_its_scale() -> None:
    base, experts = _experts((6, 4), 3, seed=5)
    merged = merge_state_dicts(base, experts, MergeParams(method="ties", params={"density": 0.5, "scale": 1.0}))
    # The bias (6 entries, k = 3 per expert): trim, elect the sign of the sum, disjoint mean.
    taus = np.stack(_taus(base, experts, BIAS))
    trimmed = np.zeros_like(taus)
    for row, tau in enumerate(taus):
        keep = np.argsort(-np.abs(tau), kind="stable")[:3]
        trimmed[row, keep] = tau[keep]
    sign = np.sign(trimmed.sum(axis=0))
    agree = (np.sign(trimmed) == sign) & (trimmed != 0)
    expected = (trimmed * agree).sum(axis=0) / np.maximum(agree.sum(axis=0), 1)
    np.testing.assert_allclose(_merged_delta(merged, base, BIAS), expected, rtol=0, atol=1e-6)
    summed = sum(_taus(base, experts, BIAS))
    assert not np.allclose(_merged_delta(merged, base, BIAS), summed, atol=1e-3)


def test_dare_drops_entries_of_dense_tensors_too() -> None:
    base, experts = _experts((40, 30), 2, seed=6)
    merged = merge_state_dicts(base, experts, MergeParams(method="dare", params={"density": 0.5, "scale": 0.5}))
    delta = _merged_delta(merged, base, BIAS)
    dense_sum = 0.5 * sum(_taus(base, experts, BIAS))
    assert not np.allclose(delta, dense_sum, atol=1e-3)  # survivors rescaled by 2, the dropped ones gone
    treatments = assign_treatments(base)
    assert treatments[BIAS] == "dense" and treatments[FC1] == "lowrank_sparse"


@pytest.mark.parametrize("method", ["iso_c", "iso_cts", "tsv_m"])
def test_svd_methods_take_no_unknown_parameter(method: str) -> None:
    with pytest.raises(ValueError, match="takes no parameter 'seed'"):
        MergeParams(method=method, params={"seed": 1})
