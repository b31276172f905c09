"""DARE per matrix: drop each task-vector entry with probability 1 - density, rescale the survivors by
1 / density, then task arithmetic, on every tensor of the task vector (Yu et al., "Language Models are Super Mario:
Absorbing Abilities from Homologous Models as a Free Lunch", ICML 2024, arXiv 2311.03099).

Reproducible: the random mask of (tensor, expert) is drawn from a generator seeded with
`derive_seed(seed, tensor name, expert index)`, so the same seed gives the same merge on the same device
whatever order the tensors are merged in. CPU and CUDA generators give different masks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from lors_search.merging.method import DENSITY, SCALE, SEED, ExpertMatrix, MergeMethod, MethodCost, TensorPlan

if TYPE_CHECKING:
    from lors_search.merging.workspace import Workspace


def derive_seed(seed: int, tensor: str, expert_index: int) -> int:
    """A 63-bit generator seed for one (tensor, expert), stable across processes and Python versions."""
    digest = hashlib.blake2b(f"{seed}:{tensor}:{expert_index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def dare_mask_(out: Tensor, density: float, generator: torch.Generator) -> Tensor:
    """Fill `out` with 1.0 where an entry survives (probability `density`), else 0.0."""
    torch.rand(out.shape, generator=generator, device=out.device, out=out)
    # rand is in [0, 1): u < density keeps with probability exactly density.
    return torch.lt(out, density, out=out)


def merge_matrix(experts: Sequence[ExpertMatrix], plan: TensorPlan, out: Tensor, workspace: Workspace) -> None:
    """DARE for one tensor, from the experts' task vectors, into `out`."""
    mask = workspace.buffer(out.shape, out.device, 0)
    for index, expert in enumerate(experts):
        scale, density = plan.scales[index], plan.densities[index]
        if scale == 0.0 or density == 0.0:
            continue
        if density >= 1.0:
            out.add_(expert.delta, alpha=scale)
            continue
        generator = torch.Generator(device=out.device).manual_seed(derive_seed(plan.seeds[index], plan.name, index))
        dare_mask_(mask, density, generator)
        out.addcmul_(expert.delta, mask, value=scale / density)


METHOD = MergeMethod(
    name="dare",
    paper="Yu et al., Language Models are Super Mario: Absorbing Abilities from Homologous Models as a Free "
    "Lunch, ICML 2024, arXiv 2311.03099",
    summary="drop entries with probability 1 - density, rescale by 1 / density, then task arithmetic (every tensor)",
    parameters=(DENSITY.with_default(0.2), SCALE, SEED),
    merge_matrix=merge_matrix,
    merge_dense=merge_matrix,
    elementwise=True,
    cost=MethodCost(prepared="each expert's task vector", per_merge="one random mask per expert and tensor"),
)
