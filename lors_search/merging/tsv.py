"""TSV-M, Task Singular Vectors merging (Gargiulo et al., "Task Singular Vectors: Reducing Task
Interference in Model Merging", CVPR 2025, arXiv 2412.00081), per eligible matrix.

Each expert keeps its top k singular triplets (k = max(1, floor(sv_fraction * r / N)), r the smaller
side; the paper's k = r / N at sv_fraction 1); the left vectors of all experts are stacked and replaced by
their polar factor, the right vectors too, and out += U_perp diag(lambda_i s_i) V_perp^T: the experts'
subspaces made orthogonal to each other, so they stop interfering. The truncated factors are the ones
prepared once per expert; a merge only slices, whitens and multiplies. Tensors outside the eligible
matrices: task arithmetic at `dense_scale` (default 1 / N).
"""

from __future__ import annotations

from dataclasses import replace

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from lors_search.merging.isotropic import polar
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


def task_rank(values: Mapping[str, float | int | None], shape: tuple[int, ...], n_experts: int) -> int:
    """k for one expert and matrix: max(1, floor(sv_fraction * min(shape) / N)), at most the smaller side."""
    side = min(shape)
    fraction = Fraction(repr(float(values["sv_fraction"])))  # type: ignore[arg-type]
    return min(side, max(1, math.floor(fraction * side / n_experts)))


def merge_tsv(experts: Sequence[ExpertMatrix], plan: TensorPlan, out: Tensor, workspace: Workspace) -> None:
    """TSV-M for one matrix, into `out`."""
    lefts, rights, values = [], [], []
    for index, expert in enumerate(experts):
        k = plan.ranks[index]
        us, vh = expert.us[:, :k], expert.vh[:k]
        if us.shape[1] < k:
            raise ValueError(f"TSV-M asks rank {k} of {plan.name!r} but the factors hold {us.shape[1]}")
        s = torch.linalg.vector_norm(us, dim=0)  # the columns of U diag(s) have norms s
        lefts.append(us / s.clamp_min(torch.finfo(s.dtype).tiny))
        rights.append(vh.T)
        values.append(s * plan.scales[index])
    spectrum = torch.cat(values)
    if spectrum.numel() == 0:
        return
    left, right = polar(torch.cat(lefts, dim=1)), polar(torch.cat(rights, dim=1))
    out.addmm_(left * spectrum, right.T)


TSV_M = MergeMethod(
    name="tsv_m",
    paper="Gargiulo et al., Task Singular Vectors: Reducing Task Interference in Model Merging, CVPR 2025, "
    "arXiv 2412.00081",
    summary="each expert's top singular triplets, left and right vectors whitened together (polar), recombined",
    parameters=(
        replace(
            SCALE.with_default(1.0, "alpha, the weight of each expert's singular values (paper: 1)"),
            search=SearchRange(0.25, 2.0, log=True),
        ),
        Param(
            "sv_fraction",
            float,
            "singular triplets kept per expert as a fraction of r / N (r = smaller side; paper: 1)",
            low=0.0,
            high=1.0,
            default=1.0,
            per_expert=False,
            search=SearchRange(0.05, 1.0, log=True),
        ),
        DENSE_SCALE,
    ),
    merge_matrix=merge_tsv,
    dense_scale="dense_scale",
    rank_rule=task_rank,
    cost=MethodCost(
        prepared="each expert's task vector and its SVD factors up to r / N",
        per_merge="per matrix: two polar factors (SVDs of the stacked singular vectors) and one product",
    ),
)
