"""Isotropic merging (Marczak et al., "No Task Left Behind: Isotropic Model Merging with Common and
Task-Specific Subspaces", ICML 2025, arXiv 2502.04959), per eligible matrix.

Iso-C: M = sum_i lambda_i tau_i, SVD M = U S V^T, out += U mean(S) V^T: the summed task vector with a flat
spectrum, so the few directions that dominate the sum no longer drown the others (alpha = lambda when all
experts share it). Iso-CTS: keep the top k = floor(common_fraction * r) directions of M (r = the smaller
side), give each expert floor((r - k) / N) directions of its task vector with the common subspace
projected out, whiten the stacked left and right vectors (polar factors), and flatten the spectrum to the
mean of the retained singular values. Tensors outside the eligible matrices: task arithmetic at
`dense_scale` (default 1 / N, the averaging of the authors' code).
"""

from __future__ import annotations

from dataclasses import replace

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from lors_search.merging.isotropic import PRUNE_PARAMS, polar, pruned_one, pruned_sum
from lors_search.merging.method import SCALE, ExpertMatrix, MergeMethod, MethodCost, Param, SearchRange, TensorPlan

if TYPE_CHECKING:
    from lors_search.merging.workspace import Workspace

ISO_PAPER = (
    "Marczak et al., No Task Left Behind: Isotropic Model Merging with Common and Task-Specific Subspaces, "
    "ICML 2025, arXiv 2502.04959"
)


def merge_iso_c(experts: Sequence[ExpertMatrix], plan: TensorPlan, out: Tensor, workspace: Workspace) -> None:
    """Iso-C for one matrix, into `out`."""
    total = pruned_sum(experts, plan, workspace)
    u, s, vh = torch.linalg.svd(total, full_matrices=False)
    out.addmm_(u * s.mean(), vh)


def common_size(fraction: float, rank: int) -> int:
    """k = floor(fraction * r), read as the decimal it prints as."""
    from fractions import Fraction

    return min(rank, math.floor(Fraction(repr(float(fraction))) * rank))


def merge_iso_cts(experts: Sequence[ExpertMatrix], plan: TensorPlan, out: Tensor, workspace: Workspace) -> None:
    """Iso-CTS for one matrix, into `out`."""
    total = pruned_sum(experts, plan, workspace)
    u, s, vh = torch.linalg.svd(total, full_matrices=False)
    rank = s.numel()
    common = common_size(plan.value("common_fraction"), rank)
    specific = (rank - common) // len(experts)
    lefts, rights, values = [u[:, :common]], [vh[:common].T], [s[:common]]
    if specific > 0:
        u_common = u[:, :common]
        for index, expert in enumerate(experts):
            own = pruned_one(expert, plan, index, workspace)
            # The expert's directions outside the common subspace: (I - U_k U_k^T) lambda_i tau_i.
            own.sub_(u_common @ (u_common.T @ own))
            u_i, s_i, vh_i = torch.linalg.svd(own, full_matrices=False)
            lefts.append(u_i[:, :specific])
            rights.append(vh_i[:specific].T)
            values.append(s_i[:specific])
    spectrum = torch.cat(values)
    if spectrum.numel() == 0:
        return
    left, right = polar(torch.cat(lefts, dim=1)), polar(torch.cat(rights, dim=1))
    out.addmm_(left * spectrum.mean(), right.T)


_SCALE = replace(
    SCALE.with_default(1.0, "alpha, the scale of the summed task vector before its spectrum is flattened"),
    search=SearchRange(0.25, 2.0, log=True),
)
_COST = "each expert's task vector (and SVD factors when pruning with a rank)"

ISO_C = MergeMethod(
    name="iso_c",
    paper=ISO_PAPER,
    summary="SVD of the summed task vectors with every singular value replaced by their mean",
    parameters=(_SCALE, *PRUNE_PARAMS),
    merge_matrix=merge_iso_c,
    dense_scale="dense_scale",
    cost=MethodCost(prepared=_COST, per_merge="one SVD of the summed task vector per matrix"),
)
ISO_CTS = MergeMethod(
    name="iso_cts",
    paper=ISO_PAPER,
    summary="Iso-C's common subspace plus each expert's own directions orthogonal to it, flat spectrum",
    parameters=(
        _SCALE,
        Param(
            "common_fraction",
            float,
            "share of the rank kept for the common subspace of the summed task vector (paper: 0.8)",
            low=0.0,
            high=1.0,
            default=0.8,
            per_expert=False,
            search=SearchRange(0.5, 1.0),
        ),
        *PRUNE_PARAMS,
    ),
    merge_matrix=merge_iso_cts,
    dense_scale="dense_scale",
    cost=MethodCost(
        prepared=_COST,
        per_merge="per matrix: one SVD of the sum, one per expert of its projected task vector, two polar factors",
    ),
)
