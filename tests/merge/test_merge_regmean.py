"""RegMean's per-layer maths (Jin et al., ICLR 2023, arXiv 2212.09849) against an independent numpy float64
formula with an explicit inverse, its closed-form special cases, and its optimality condition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lors_search.merging.regmean import DEFAULT_RIDGE, add_regmean_, regmean_delta, regularized_grams

OUT, IN, EXPERTS = 6, 5, 3


def random_problem(seed: int, tokens: int = 40) -> tuple[list[torch.Tensor], list[torch.Tensor], list[np.ndarray]]:
    """Task vectors (OUT, IN), Grams X^T X of random inputs (tokens, IN) with per-expert column scales (so the
    experts' Grams differ in more than scale), and the inputs themselves."""
    rng = np.random.default_rng(seed)
    deltas, grams, inputs = [], [], []
    for _ in range(EXPERTS):
        x = rng.standard_normal((tokens, IN)) * rng.uniform(0.2, 3.0, size=IN) + rng.standard_normal(IN)
        deltas.append(torch.from_numpy(rng.standard_normal((OUT, IN))))
        grams.append(torch.from_numpy(x.T @ x))
        inputs.append(x)
    return deltas, grams, inputs


def numpy_regmean(deltas, grams, alpha: float, ridge: float = 0.0) -> np.ndarray:
    """The paper's formula written independently: explicit matrices, an explicit inverse, float64."""
    tildes = []
    for gram in grams:
        g = np.asarray(gram, dtype=np.float64)
        tildes.append(alpha * g + (1.0 - alpha) * np.diag(np.diag(g)))
    shift = ridge * np.mean([np.diag(np.asarray(g, dtype=np.float64)) for g in grams])
    tildes = [t + shift * np.eye(t.shape[0]) for t in tildes]
    numerator = sum(np.asarray(d, dtype=np.float64) @ t for d, t in zip(deltas, tildes, strict=True))
    return numerator @ np.linalg.inv(sum(tildes))


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.9, 1.0])
def test_matches_the_explicit_inverse_in_float64(alpha: float) -> None:
    deltas, grams, _ = random_problem(1)
    merged = regmean_delta(deltas, grams, alpha, ridge=0.0, dtype=torch.float64)
    assert merged.dtype == torch.float64
    torch.testing.assert_close(merged, torch.from_numpy(numpy_regmean(deltas, grams, alpha)), rtol=1e-11, atol=1e-12)


def test_the_default_ridge_is_the_documented_one() -> None:
    deltas, grams, _ = random_problem(2)
    merged = regmean_delta(deltas, grams, 1.0, dtype=torch.float64)
    expected = numpy_regmean(deltas, grams, 1.0, ridge=DEFAULT_RIDGE)
    torch.testing.assert_close(merged, torch.from_numpy(expected), rtol=1e-11, atol=1e-12)
    # ... and on a well-conditioned problem it moves the result by about ridge, relative.
    torch.testing.assert_close(merged, torch.from_numpy(numpy_regmean(deltas, grams, 1.0)), rtol=1e-4, atol=1e-5)


def test_float32_default_is_close_to_float64() -> None:
    deltas, grams, _ = random_problem(3)
    merged = regmean_delta([d.float() for d in deltas], [g.float() for g in grams], 0.5)
    assert merged.dtype == torch.float32
    expected = torch.from_numpy(numpy_regmean(deltas, grams, 0.5, ridge=DEFAULT_RIDGE)).float()
    torch.testing.assert_close(merged, expected, rtol=1e-4, atol=1e-5)


def test_plain_regmean_solves_the_least_squares_merge() -> None:
    """alpha = 1: W minimises sum_i ||X_i W^T - X_i W_i^T||^2, so the gradient sum_i (tau - tau_i) G_i is 0."""
    deltas, grams, inputs = random_problem(4)
    merged = regmean_delta(deltas, grams, 1.0, ridge=0.0, dtype=torch.float64).numpy()
    gradient = sum((merged - d.numpy()) @ (x.T @ x) for d, x in zip(deltas, inputs, strict=True))
    np.testing.assert_allclose(gradient, 0.0, atol=1e-9)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_identical_grams_give_the_plain_mean(alpha: float) -> None:
    deltas, grams, _ = random_problem(5)
    same = [grams[0]] * EXPERTS
    mean = sum(deltas) / EXPERTS
    torch.testing.assert_close(regmean_delta(deltas, same, alpha, dtype=torch.float64), mean, rtol=1e-12, atol=1e-13)
    # Scaling every Gram by one factor changes nothing either.
    scaled = [gram * 1e3 for gram in same]
    torch.testing.assert_close(regmean_delta(deltas, scaled, alpha, dtype=torch.float64), mean, rtol=1e-12, atol=1e-13)


def test_alpha_zero_is_a_per_column_weighted_average() -> None:
    deltas, grams, _ = random_problem(6)
    weights = torch.stack([gram.diagonal() for gram in grams])  # (experts, IN): each expert's input energy
    expected = sum(d * w for d, w in zip(deltas, weights, strict=True)) / weights.sum(0)
    merged = regmean_delta(deltas, grams, 0.0, ridge=0.0, dtype=torch.float64)
    torch.testing.assert_close(merged, expected, rtol=1e-12, atol=1e-13)


def test_one_expert_gets_its_own_task_vector() -> None:
    deltas, grams, _ = random_problem(7)
    merged = regmean_delta(deltas[:1], grams[:1], 0.7, dtype=torch.float64)
    torch.testing.assert_close(merged, deltas[0], rtol=1e-10, atol=1e-12)


def test_singular_sum_is_finite_and_gives_the_mean_where_no_data_reaches() -> None:
    """Input column 0 is zero in every expert's data: the sum of Grams is singular. The ridge makes the solve
    well-posed and that column of the result is the plain mean; the other columns still equal the RegMean of
    the remaining inputs (up to the ridge)."""
    deltas, _, inputs = random_problem(8)
    grams = []
    for x in inputs:
        x = x.copy()
        x[:, 0] = 0.0
        grams.append(torch.from_numpy(x.T @ x))
    merged = regmean_delta(deltas, grams, 1.0, dtype=torch.float64)
    assert torch.isfinite(merged).all()
    mean = sum(deltas) / EXPERTS
    torch.testing.assert_close(merged[:, 0], mean[:, 0], rtol=1e-12, atol=1e-12)
    rest = regmean_delta([d[:, 1:] for d in deltas], [g[1:, 1:] for g in grams], 1.0, ridge=0.0, dtype=torch.float64)
    torch.testing.assert_close(merged[:, 1:], rest, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(merged, torch.from_numpy(numpy_regmean(deltas, grams, 1.0, DEFAULT_RIDGE)),
                               rtol=1e-10, atol=1e-11)


def test_rank_deficient_grams_from_few_tokens() -> None:
    """Fewer tokens than inputs in every expert (each Gram has rank 2 of 5): still finite, still the formula."""
    deltas, grams, _ = random_problem(9, tokens=2)
    merged = regmean_delta([d.float() for d in deltas], [g.float() for g in grams], 1.0)
    assert torch.isfinite(merged).all()
    expected = numpy_regmean(deltas, grams, 1.0, DEFAULT_RIDGE)
    torch.testing.assert_close(merged.double(), torch.from_numpy(expected), rtol=2e-3, atol=2e-3)


def test_all_zero_grams_give_the_mean() -> None:
    deltas, _, _ = random_problem(10)
    zeros = [torch.zeros(IN, IN, dtype=torch.float64)] * EXPERTS
    torch.testing.assert_close(regmean_delta(deltas, zeros, 1.0, dtype=torch.float64), sum(deltas) / EXPERTS,
                               rtol=1e-12, atol=1e-13)


def test_out_is_overwritten_and_add_accumulates_the_scaled_delta() -> None:
    deltas, grams, _ = random_problem(11)
    deltas32, grams32 = [d.float() for d in deltas], [g.float() for g in grams]
    expected = regmean_delta(deltas32, grams32, 0.8)
    out = torch.full((OUT, IN), 7.0)
    assert regmean_delta(deltas32, grams32, 0.8, out=out) is out
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    base = torch.randn(OUT, IN, generator=torch.Generator().manual_seed(0))
    accumulator = base.clone()
    assert add_regmean_(deltas32, grams32, 0.8, accumulator, scale=0.6) is accumulator
    torch.testing.assert_close(accumulator, base + 0.6 * expected, rtol=0, atol=1e-6)
    untouched = base.clone()
    add_regmean_(deltas32, grams32, 0.8, untouched, scale=0.0)
    assert torch.equal(untouched, base)


def test_regularized_grams_keep_the_diagonal_and_scale_the_rest() -> None:
    _, grams, _ = random_problem(12)
    tildes = regularized_grams(grams, 0.25, ridge=0.0, dtype=torch.float64)
    for gram, tilde in zip(grams, tildes, strict=True):
        off = ~torch.eye(IN, dtype=torch.bool)
        torch.testing.assert_close(tilde.diagonal(), gram.diagonal(), rtol=0, atol=0)
        torch.testing.assert_close(tilde[off], 0.25 * gram[off], rtol=0, atol=0)
        assert tilde.data_ptr() != gram.data_ptr()  # the caller's Grams are never modified


@pytest.mark.parametrize(
    ("alpha", "shapes", "message"),
    [
        (1.5, ((OUT, IN), (IN, IN)), "alpha"),
        (-0.1, ((OUT, IN), (IN, IN)), "alpha"),
        (0.5, ((OUT, IN), (IN + 1, IN + 1)), "does not fit"),
    ],
)
def test_bad_input_is_refused(alpha: float, shapes, message: str) -> None:
    delta, gram = torch.zeros(shapes[0]), torch.eye(shapes[1][0])
    with pytest.raises(ValueError, match=message):
        regmean_delta([delta], [gram], alpha)


def test_mismatched_lists_are_refused() -> None:
    with pytest.raises(ValueError, match="Gram"):
        regmean_delta([torch.zeros(2, 2)] * 2, [torch.eye(2)], 1.0)
    with pytest.raises(ValueError, match="at least one"):
        regmean_delta([], [], 1.0)
