"""Task arithmetic: theta = theta_0 + sum_i lambda_i tau_i (Ilharco et al., "Editing Models with Task
Arithmetic", ICLR 2023, arXiv 2212.04089). The per-matrix function of the merge registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from torch import Tensor

from lors_search.merging.method import SCALE, ExpertMatrix, MergeMethod, MethodCost, TensorPlan

if TYPE_CHECKING:
    from lors_search.merging.workspace import Workspace


def add_scaled(deltas: Sequence[Tensor], scales: Sequence[float], out: Tensor) -> Tensor:
    """out += sum_i scales[i] * deltas[i] (in place; zero scales skipped)."""
    for delta, scale in zip(deltas, scales, strict=True):
        if scale != 0.0:
            out.add_(delta, alpha=scale)
    return out


def merge_matrix(experts: Sequence[ExpertMatrix], plan: TensorPlan, out: Tensor, workspace: Workspace) -> None:
    """Add the task-arithmetic sum of the experts' task vectors for one tensor to `out`."""
    add_scaled([expert.delta for expert in experts], plan.scales, out)


METHOD = MergeMethod(
    name="task_arithmetic",
    paper="Ilharco et al., Editing Models with Task Arithmetic, ICLR 2023, arXiv 2212.04089",
    summary="theta_0 + sum_i lambda_i tau_i, no pruning",
    parameters=(SCALE,),
    merge_matrix=merge_matrix,
    cost=MethodCost(prepared="each expert's task vector", per_merge="one scaled sum per tensor"),
)
