"""RegMean per linear layer (Jin et al., "Dataless Knowledge Fusion by Merging Weights of Language Models",
ICLR 2023, arXiv 2212.09849): the weight that best reproduces every expert's outputs on its own inputs.

For a linear weight in torch layout (out, in), y = x W^T, with G_i = X_i^T X_i the Gram matrix of the layer's
inputs in expert i, RegMean minimises sum_i ||X_i W^T - X_i W_i^T||^2, whose solution is
W = (sum_i W_i G_i)(sum_i G_i)^-1. With W_i = W_0 + tau_i the base cancels:
tau = W - W_0 = (sum_i tau_i G_i)(sum_i G_i)^-1, so the merge needs only task vectors and Grams.
The paper scales the off-diagonal entries of each G_i by alpha (its "reduce non-diagonal" regulariser):
G_i~ = alpha G_i + (1 - alpha) diag(G_i). alpha = 1 is plain RegMean; alpha = 0 makes every G_i~ diagonal,
and tau becomes a per-input-column weighted average of the tau_i (weights: each expert's input energy in
that column).

Singular sums: finite data often leaves sum_i G_i~ rank-deficient (fewer tokens than inputs, dead input
features). A ridge r I is added to *every* G_i~, r = ridge * mean diagonal entry over all experts, not to the
sum alone: then a direction no expert's data spans gets the plain mean of the tau_i (task arithmetic at 1/N)
instead of being zeroed, identical Grams still give exactly the mean, and alpha = 0 is still a weighted
average. Pure tensor maths, no I/O.

`REGMEAN` declares the method for the registry: per eligible linear weight, out += RegMean of the experts'
task vectors with their mean Grams (`ExpertMatrix.gram`, prepared once per expert from its own language's
train clips, `lors_search.whisper.gram`), times `scale`; every other tensor (biases, norms, embeddings,
convolutions) is averaged, as the paper does for the weights that are not linear layers (`dense_scale`,
default 1 / N).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from lors_search.merging.method import (
    DENSE_SCALE,
    SCALE,
    ExpertMatrix,
    MergeMethod,
    MethodCost,
    Param,
    SearchRange,
    TensorPlan,
)

if TYPE_CHECKING:
    from lors_search.merging.workspace import Workspace

PAPER = (
    "Jin, Ren, Preotiuc-Pietro and Cheng, Dataless Knowledge Fusion by Merging Weights of Language Models, "
    "ICLR 2023, arXiv 2212.09849"
)

# Relative to the mean diagonal entry: about fp32 resolution of a well-scaled Gram, so it only decides
# directions the data leaves (numerically) undetermined and moves a well-conditioned solve by ~1e-6.
DEFAULT_RIDGE = 1e-6


def _checked(deltas: Sequence[Tensor], grams: Sequence[Tensor], alpha: float) -> tuple[int, int]:
    if not deltas:
        raise ValueError("RegMean needs at least one expert")
    if len(deltas) != len(grams):
        raise ValueError(f"{len(deltas)} task vectors but {len(grams)} Gram matrices")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    rows, cols = deltas[0].shape
    for delta, gram in zip(deltas, grams, strict=True):
        if delta.shape != (rows, cols):
            raise ValueError(f"task vectors differ in shape: {tuple(delta.shape)} and {(rows, cols)}")
        if gram.shape != (cols, cols):
            raise ValueError(f"a Gram matrix of shape {tuple(gram.shape)} does not fit a ({rows}, {cols}) weight")
    return rows, cols


def regularized_grams(
    grams: Sequence[Tensor], alpha: float, ridge: float = DEFAULT_RIDGE, dtype: torch.dtype = torch.float32
) -> list[Tensor]:
    """G_i~ + r I for each expert: off-diagonal entries times alpha, diagonal kept, r = ridge * mean diagonal
    entry over all experts (new tensors in `dtype`, on the Grams' device)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if ridge < 0.0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    diagonals = [gram.diagonal().to(dtype) for gram in grams]
    mean_diagonal = float(torch.stack(diagonals).mean()) if diagonals else 0.0
    # All-zero inputs (every G_i = 0) leave the weight undetermined; any positive ridge then gives the mean.
    shift = ridge * mean_diagonal if mean_diagonal > 0.0 else 1.0
    out = []
    for gram, diagonal in zip(grams, diagonals, strict=True):
        # alpha G + (1 - alpha) diag(G) has G's own diagonal: only the off-diagonal part is scaled.
        tilde = gram.to(dtype).mul(alpha)
        tilde.diagonal().copy_(diagonal + shift)
        out.append(tilde)
    return out


def _solve_right(numerator: Tensor, system: Tensor) -> Tensor:
    """numerator @ system^-1 for a symmetric positive (semi)definite `system`, without forming the inverse:
    system is symmetric, so solve system X = numerator^T and return X^T."""
    factor, info = torch.linalg.cholesky_ex(system)
    if int(info) == 0:
        return torch.cholesky_solve(numerator.T, factor).T
    # Rounding can make a near-singular sum indefinite; LU still solves it, least squares if even that fails.
    solved, info = torch.linalg.solve_ex(system, numerator.T)
    if int(info) == 0 and bool(torch.isfinite(solved).all()):
        return solved.T
    return torch.linalg.lstsq(system, numerator.T).solution.T


def regmean_delta(
    deltas: Sequence[Tensor],
    grams: Sequence[Tensor],
    alpha: float,
    out: Tensor | None = None,
    *,
    ridge: float = DEFAULT_RIDGE,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """The merged task vector tau = (sum_i tau_i G_i~)(sum_i G_i~)^-1 of one (out, in) linear weight.

    `deltas`: each expert's task vector (out, in); `grams`: each expert's input Gram X_i^T X_i (in, in), any
    common scale; `alpha` in [0, 1] scales their off-diagonal entries. Computed in `dtype` (float64 for exact
    tests) on the task vectors' device; written into `out` (overwritten, cast to its dtype) when given,
    else returned as a new tensor of `dtype`.
    """
    rows, cols = _checked(deltas, grams, alpha)
    device = deltas[0].device
    tildes = regularized_grams([gram.to(device) for gram in grams], alpha, ridge, dtype)
    numerator = torch.zeros((rows, cols), dtype=dtype, device=device)
    system = torch.zeros((cols, cols), dtype=dtype, device=device)
    for delta, tilde in zip(deltas, tildes, strict=True):
        numerator.addmm_(delta.to(dtype), tilde)
        system.add_(tilde)
    merged = _solve_right(numerator, system)
    if out is None:
        return merged
    if out.shape != merged.shape:
        raise ValueError(f"out has shape {tuple(out.shape)}, the merged task vector {tuple(merged.shape)}")
    return out.copy_(merged)


def add_regmean_(
    deltas: Sequence[Tensor],
    grams: Sequence[Tensor],
    alpha: float,
    out: Tensor,
    scale: float = 1.0,
    *,
    ridge: float = DEFAULT_RIDGE,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    """out += scale * regmean_delta(deltas, grams, alpha) (in place; the merge's accumulator holds the base,
    so this makes theta_0 + scale * tau). Returns `out`."""
    if scale == 0.0:
        _checked(deltas, grams, alpha)
        return out
    merged = regmean_delta(deltas, grams, alpha, ridge=ridge, dtype=dtype)
    if out.shape != merged.shape:
        raise ValueError(f"out has shape {tuple(out.shape)}, the merged task vector {tuple(merged.shape)}")
    return out.add_(merged.to(out.dtype), alpha=scale)


def merge_regmean(experts: Sequence[ExpertMatrix], plan: TensorPlan, out: Tensor, workspace: Workspace) -> None:
    """RegMean for one eligible linear weight, into `out`: out += (sum_i s_i tau_i G_i~)(sum_i G_i~)^-1.

    With one scale s for every expert (the usual case) this is s times the paper's RegMean; per-expert scales
    (a search's scale_per expert) weight each expert's task vector inside the regression, which keeps the
    solve a single one and reduces to the paper's method when they agree."""
    grams = []
    for index, expert in enumerate(experts):
        if expert.gram is None:
            raise ValueError(f"RegMean needs the Gram matrix of {plan.name!r} for expert #{index + 1}; none was prepared")
        grams.append(expert.gram)
    alpha = plan.value("alpha")
    scales = plan.scales
    deltas = [expert.delta for expert in experts]
    if all(scale == scales[0] for scale in scales):
        # With one scale the unscaled merge depends on alpha alone: a search over the scale (or over other
        # tensors' parameters) reuses it instead of redoing the products and the (in, in) solve each trial.
        inputs = (alpha, *deltas, *grams)
        merged = workspace.memo("regmean", plan.name, inputs)
        if merged is None:
            merged = regmean_delta(deltas, grams, alpha)
            workspace.remember("regmean", plan.name, inputs, merged)
        if merged.shape != out.shape:
            raise ValueError(f"out has shape {tuple(out.shape)}, the merged task vector {tuple(merged.shape)}")
        out.add_(merged.to(out.dtype), alpha=scales[0])
        return
    scaled = [delta * scale for delta, scale in zip(deltas, scales, strict=True)]
    add_regmean_(scaled, grams, alpha, out, 1.0)


# The paper (section 3.2) scales the off-diagonal Gram entries by alpha and tunes it on held-out data; its
# authors' code and FusionBench ship values between 0.6 (GPT-2) and 0.95 (CLIP ViT); 0.9 is a middle that keeps
# most of the input correlations while damping the poorly estimated ones of small Gram samples.
ALPHA = Param(
    "alpha",
    float,
    "RegMean's scaling of the off-diagonal Gram entries: G~ = alpha G + (1 - alpha) diag(G) (1 = plain RegMean, "
    "0 = a per-input-column weighted average)",
    low=0.0,
    high=1.0,
    default=0.9,
    per_expert=False,
    search=SearchRange(0.0, 1.0),
)

REGMEAN = MergeMethod(
    name="regmean",
    paper=PAPER,
    summary="per linear layer, the weight that best reproduces every expert's outputs on its own inputs "
    "(Gram matrices of the layer inputs on each expert's train clips)",
    parameters=(
        replace(
            SCALE.with_default(1.0, "weight of the merged (RegMean) task vector: theta_0 + scale * tau (paper: 1)"),
            search=SearchRange(0.25, 2.0, log=True),
        ),
        ALPHA,
        DENSE_SCALE,
    ),
    merge_matrix=merge_regmean,
    dense_scale="dense_scale",
    needs=("gram",),
    cost=MethodCost(
        prepared="each expert's task vector and the Gram matrix X^T X of every eligible linear layer's inputs "
        "(one forward pass over its train clips, cached on disk; an (in, in) matrix per layer)",
        per_merge="per matrix: N Gram regularisations, N (out, in) x (in, in) products and one Cholesky solve "
        "of an (in, in) system",
    ),
)
