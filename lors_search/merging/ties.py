"""TIES-Merging per tensor: trim, elect sign, disjoint mean (Yadav et al., "TIES-Merging: Resolving
Interference When Merging Models", NeurIPS 2023, arXiv 2306.01708).

trimmed_i = the k_i = floor(density_i * numel) largest-|.| entries of tau_i; each entry's sign is the sign
of sum_i lambda_i trimmed_i; the merged entry is the mean of the lambda_i trimmed_i that are non-zero and
agree with it; out += merged. With one lambda for all experts this is lambda * TIES, the paper's form;
distinct lambdas weight the experts in the election and the mean. Element-wise, so it applies to every
tensor of the task vector (embeddings, biases, norms, convolutions too), as in the paper: summing the
dense tensors at the TIES scale instead (lambda 1 over N experts) pushed a merge below its base.
"""

from __future__ import annotations

from dataclasses import replace

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from lors_search.merging.method import (
    DENSITY,
    SCALE,
    ExpertMatrix,
    MergeMethod,
    MethodCost,
    SearchRange,
    TensorPlan,
)
from lors_search.merging.topk import topk_mask_

if TYPE_CHECKING:
    from lors_search.merging.workspace import Workspace


def ties_merge(trimmed: Sequence[Tensor], out: Tensor, buffers: tuple[Tensor, Tensor, Tensor, Tensor]) -> Tensor:
    """out += disjoint mean of `trimmed` (vectors already scaled and trimmed) under the elected sign.

    `buffers`: four float32 scratch tensors of out's shape.
    """
    elected, total, count, agree = buffers
    elected.copy_(trimmed[0])
    for vector in trimmed[1:]:
        elected.add_(vector)
    torch.sign(elected, out=elected)
    total.zero_()
    count.zero_()
    for vector in trimmed:
        # 1 where the entry is non-zero with the elected sign, 0 where zero, -1 (clamped to 0) where opposed.
        torch.mul(torch.sign(vector, out=agree), elected, out=agree).clamp_(min=0.0)
        total.addcmul_(vector, agree)
        count.add_(agree)
    out.add_(total.div_(count.clamp_(min=1.0)))
    return out


def merge_matrix(experts: Sequence[ExpertMatrix], plan: TensorPlan, out: Tensor, workspace: Workspace) -> None:
    """TIES for one tensor, from the experts' task vectors, into `out`."""
    shape, device = out.shape, out.device
    numel = out.numel()
    trimmed: list[Tensor] = []
    mask = workspace.buffer(shape, device, 0)
    magnitudes = workspace.buffer(shape, device, 1)
    scratch = workspace.flags(shape, device)
    for index, expert in enumerate(experts):
        scale, keep = plan.scales[index], plan.keeps[index]
        if scale == 0.0 or keep == 0:
            continue  # contributes nothing: neither votes nor counts in the mean
        vector = workspace.buffer(shape, device, 10 + index)
        if keep >= numel:
            torch.mul(expert.delta, scale, out=vector)
        else:
            torch.abs(expert.delta, out=magnitudes)
            topk_mask_(magnitudes, keep, mask, workspace.sample(numel, device), scratch)
            torch.mul(expert.delta, mask, out=vector).mul_(scale)
        trimmed.append(vector)
    if trimmed:
        buffers = tuple(workspace.buffer(shape, device, slot) for slot in (4, 5, 6, 7))
        ties_merge(trimmed, out, buffers)  # type: ignore[arg-type]


METHOD = MergeMethod(
    name="ties",
    paper="Yadav et al., TIES-Merging: Resolving Interference When Merging Models, NeurIPS 2023, arXiv 2306.01708",
    summary="trim each tau to its top-density entries, elect signs, disjoint mean (every tensor)",
    parameters=(
        DENSITY.with_default(0.2, "kept fraction of each task vector (paper: 0.2)"),
        replace(SCALE.with_default(1.0, "lambda of the merged vector (paper: 1)"), search=SearchRange(0.2, 2.0, log=True)),
    ),
    merge_matrix=merge_matrix,
    merge_dense=merge_matrix,
    elementwise=True,
    cost=MethodCost(
        prepared="each expert's task vector",
        per_merge="one top-k selection per expert and tensor, a sign election and a masked mean per tensor",
    ),
)
