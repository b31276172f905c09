"""Shared pieces of the SVD-recombining merges (Iso-C, Iso-CTS, TSV-M): the polar factor that whitens a
stack of singular vectors, and the pruned task vector each expert contributes.

Pruning reuses LoRS-Merging's reconstruction (arXiv 2502.17380): with density 1 (these methods' default)
it is the whole task vector, so LoRS pruning composes with every recombination below.
"""

from __future__ import annotations

from dataclasses import replace

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from lors_search.merging.lors import add_lowrank_sparse
from lors_search.merging.method import (
    DENSE_SCALE,
    DENSITY,
    RANK,
    RANK_RATIO,
    ExpertMatrix,
    TensorPlan,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from lors_search.merging.workspace import Workspace

# Optional LoRS pruning of each task vector before the recombination; the defaults prune nothing.
PRUNE_PARAMS = (
    RANK.with_default(None, "rank of the LoRS low-rank part each task vector is pruned to first (default: none)"),
    # No default search range: a space searches the pruning only when it names these parameters.
    replace(RANK_RATIO.with_default(None, "the same rank as a fraction of each matrix's smaller side"), search=None),
    replace(
        DENSITY.with_default(1.0, "kept fraction of the LoRS residual when pruning first (default 1: no pruning)"),
        search=None,
    ),
    DENSE_SCALE,
)

# Scratch slots of the workspace used here (the LoRS reconstruction uses 1-3).
SUM_SLOT, EXPERT_SLOT = 20, 21


def polar(matrix: Tensor) -> Tensor:
    """The orthonormal polar factor P Q^T of `matrix` = P diag(s) Q^T: the nearest matrix with orthonormal
    columns (TSV-M's whitening of the stacked singular vectors)."""
    p, _, qh = torch.linalg.svd(matrix, full_matrices=False)
    return p @ qh


def pruned_sum(experts: Sequence[ExpertMatrix], plan: TensorPlan, workspace: Workspace) -> Tensor:
    """sum_i lambda_i D_hat_i in a scratch buffer (D_hat_i = D_i unless the plan prunes)."""
    total = workspace.buffer(experts[0].delta.shape, experts[0].delta.device, SUM_SLOT).zero_()
    for index, expert in enumerate(experts):
        add_lowrank_sparse(expert, plan.ranks[index], plan.keeps[index], plan.scales[index], total, workspace)
    return total


def pruned_one(expert: ExpertMatrix, plan: TensorPlan, index: int, workspace: Workspace) -> Tensor:
    """lambda_i D_hat_i of one expert in a scratch buffer (overwritten by the next call)."""
    out = workspace.buffer(expert.delta.shape, expert.delta.device, EXPERT_SLOT).zero_()
    add_lowrank_sparse(expert, plan.ranks[index], plan.keeps[index], plan.scales[index], out, workspace)
    return out
