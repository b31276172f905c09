"""Exact top-k selection (exactly k survive, also through the sampled bracket) and low-rank truncation."""

from __future__ import annotations

import pytest
import torch

from lors_search.merging import keep_count, lowrank_part, svd_factors, topk_magnitude, topk_mask_, truncated_svd
from lors_search.merging.topk import kth_largest, sample_index


@pytest.mark.parametrize("numel", [1000, 300 * 300])  # below and above the bracketing threshold
@pytest.mark.parametrize("density", [0.0, 0.003, 0.2, 0.5, 0.97, 1.0])
def test_exactly_k_largest_survive(numel: int, density: float) -> None:
    values = torch.randn(numel, generator=torch.Generator().manual_seed(numel))
    k = keep_count(density, numel)
    mask = torch.empty(numel)
    topk_mask_(values.abs(), k, mask, sample_index(numel))
    assert int(mask.sum()) == k
    expected = torch.zeros(numel)
    if k:
        expected[torch.topk(values.abs(), k).indices] = 1.0
    assert torch.equal(mask, expected)
    dropped = torch.empty(numel)
    topk_mask_(values.abs(), k, dropped, sample_index(numel), complement=True)
    assert torch.equal(dropped, 1.0 - expected)


def test_bracket_and_plain_kthvalue_agree_on_skewed_data() -> None:
    # Heavy tails and many exact zeros: the bracket must still find the exact threshold.
    generator = torch.Generator().manual_seed(3)
    values = torch.randn(200_000, generator=generator).pow(5).abs()
    values[::3] = 0.0
    sample = sample_index(values.numel())
    for k in (1, 17, 50_000, 133_333, 150_000, 199_999):
        assert kth_largest(values, k, sample) == float(torch.kthvalue(values, values.numel() - k + 1).values)


def test_ties_keep_exactly_k_lowest_index_first() -> None:
    values = torch.tensor([1.0, 2.0, 2.0, 2.0, 0.5, 2.0])
    mask = torch.empty(6)
    topk_mask_(values, 3, mask)
    assert mask.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    topk_mask_(values, 3, mask, complement=True)
    assert mask.tolist() == [1.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    # The same on a tensor big enough for the bracketed path: all zeros, k of them kept.
    zeros = torch.zeros(100_000)
    big = torch.empty(100_000)
    topk_mask_(zeros, 40, big, sample_index(100_000))
    assert int(big.sum()) == 40 and int(big[:40].sum()) == 40


def test_topk_magnitude_keeps_signed_values() -> None:
    matrix = torch.tensor([[3.0, -5.0, 1.0], [-0.5, 4.0, -2.0]])
    assert torch.equal(topk_magnitude(matrix, 2), torch.tensor([[0.0, -5.0, 0.0], [0.0, 4.0, 0.0]]))


def test_keep_count_reads_density_as_its_decimal() -> None:
    assert keep_count(0.29, 100) == 29  # float 0.29 * 100 is 28.999999999999996
    assert keep_count(0.2, 768 * 768) == 117_964
    assert keep_count(0.0, 10) == 0 and keep_count(1.0, 10) == 10


def test_lowrank_part_is_the_truncated_svd() -> None:
    matrix = torch.randn(24, 40, generator=torch.Generator().manual_seed(1))
    u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    us, factors_vh = svd_factors(matrix, 9)
    assert us.shape == (24, 9) and factors_vh.shape == (9, 40)
    for rank in (0, 1, 5, 9):
        expected = u[:, :rank] @ torch.diag(s[:rank]) @ vh[:rank]
        torch.testing.assert_close(lowrank_part(us, factors_vh, rank), expected, rtol=1e-5, atol=1e-5)
    # Full rank reconstructs the matrix; asking beyond the kept rank is an error.
    torch.testing.assert_close(truncated_svd(matrix, 100), matrix, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="only up to rank 9"):
        lowrank_part(us, factors_vh, 10)
