"""LoRS-Merging and its two ablation arms, per matrix (Zhao, Sun and Zhang, "Low-Rank and Sparse Model
Merging for Multi-Lingual Speech Recognition and Translation", arXiv 2502.17380).

For each expert's task-vector matrix D: L = rank-r truncated SVD of D, R = D - L, S = the k largest-|.|
entries of R (k = floor(rho * numel), exactly k, no rescaling), D_hat = L + S; out += sum_i lambda_i D_hat_i.
`lowrank` is L alone (k = 0), `sparse` is the top-k of D (r = 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from lors_search.merging.method import (
    DENSITY,
    RANK,
    RANK_RATIO,
    SCALE,
    ExpertMatrix,
    MergeMethod,
    MethodCost,
    TensorPlan,
)
from lors_search.merging.topk import topk_mask_

if TYPE_CHECKING:
    from lors_search.merging.workspace import Workspace

LORS_PAPER = (
    "Zhao, Sun and Zhang, Low-Rank and Sparse Model Merging for Multi-Lingual Speech Recognition and "
    "Translation, arXiv 2502.17380"
)


def add_lowrank_sparse(
    expert: ExpertMatrix, rank: int, keep: int, scale: float, out: Tensor, workspace: Workspace
) -> None:
    """out += scale * (L + S) for one expert's matrix, from prepared factors (no SVD)."""
    delta = expert.delta
    rows, cols = delta.shape
    numel = delta.numel()
    if scale == 0.0 or (rank == 0 and keep == 0):
        return
    # Exact shortcuts where the algebra is exact: with full rank R = 0, with k = numel S = R; D_hat = D.
    if rank >= min(rows, cols) or keep >= numel:
        out.add_(delta, alpha=scale)
        return
    if rank > expert.us.shape[1]:
        raise ValueError(f"rank {rank} asked but factors were prepared only up to rank {expert.us.shape[1]}")
    us, vh = expert.us[:, :rank], expert.vh[:rank]
    if keep == 0:
        out.addmm_(us, vh, alpha=scale)
        return
    device = delta.device
    mask = workspace.buffer(delta.shape, device, 3)
    sample, flags = workspace.sample(numel, device), workspace.flags(delta.shape, device)
    if rank == 0:
        magnitudes = torch.abs(delta, out=workspace.buffer(delta.shape, device, 2))
        topk_mask_(magnitudes, keep, mask, sample, flags)
        out.addcmul_(delta, mask, value=scale)
        return
    # L + S = D - R * (1 - m) with R = D - L: one fused matrix product and no separate L, and the kept
    # entries come out as exactly D.
    residual = torch.addmm(delta, us, vh, alpha=-1.0, out=workspace.buffer(delta.shape, device, 1))
    magnitudes = torch.abs(residual, out=workspace.buffer(delta.shape, device, 2))
    topk_mask_(magnitudes, keep, mask, sample, flags, complement=True)
    out.add_(delta, alpha=scale)
    out.addcmul_(residual, mask, value=-scale)


def merge_lors(experts: Sequence[ExpertMatrix], plan: TensorPlan, out: Tensor, workspace: Workspace) -> None:
    """LoRS: low-rank part plus top-k of the residual, per expert, scaled and summed into `out`."""
    for index, expert in enumerate(experts):
        add_lowrank_sparse(expert, plan.ranks[index], plan.keeps[index], plan.scales[index], out, workspace)


def merge_lowrank(experts: Sequence[ExpertMatrix], plan: TensorPlan, out: Tensor, workspace: Workspace) -> None:
    """Ablation arm: the rank-r part of each task vector only."""
    for index, expert in enumerate(experts):
        add_lowrank_sparse(expert, plan.ranks[index], 0, plan.scales[index], out, workspace)


def merge_sparse(experts: Sequence[ExpertMatrix], plan: TensorPlan, out: Tensor, workspace: Workspace) -> None:
    """Ablation arm: the top-k magnitude entries of each task vector only (no low-rank part)."""
    for index, expert in enumerate(experts):
        add_lowrank_sparse(expert, 0, plan.keeps[index], plan.scales[index], out, workspace)


_PREPARED = "each expert's task vector and its SVD factors up to the largest rank the merge (or space) asks"
_PAPER_RANK = RANK_RATIO.with_default(0.01, "rank as a fraction of each matrix's smaller side (paper: 0.01)")

SPARSE = MergeMethod(
    name="sparse",
    paper=LORS_PAPER + " (sparse-only ablation)",
    summary="top-k magnitude entries of each tau (k = floor(density * numel))",
    parameters=(DENSITY.with_default(0.2), SCALE),
    merge_matrix=merge_sparse,
    cost=MethodCost(prepared="each expert's task vector", per_merge="one top-k selection per expert and matrix"),
)
LOWRANK = MergeMethod(
    name="lowrank",
    paper=LORS_PAPER + " (low-rank-only ablation)",
    summary="rank-r truncated SVD of each tau",
    parameters=(RANK, _PAPER_RANK, SCALE),
    merge_matrix=merge_lowrank,
    cost=MethodCost(prepared=_PREPARED, per_merge="one product of factor slices per expert and matrix"),
)
LORS = MergeMethod(
    name="lors",
    paper=LORS_PAPER,
    summary="rank-r truncated SVD of each tau plus the top-k magnitude entries of the residual",
    parameters=(RANK, _PAPER_RANK, DENSITY.with_default(0.2), SCALE),
    merge_matrix=merge_lors,
    cost=MethodCost(
        prepared=_PREPARED, per_merge="one factor product and one top-k selection per expert and matrix"
    ),
)
