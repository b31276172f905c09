"""The reference path: LoRS-Merging exactly as the authors' scripts run it, a full SVD of every eligible
matrix of every expert on every merge and `torch.topk` for the sparse part (arXiv 2502.17380).

Kept as the independent oracle for tests and the baseline of benchmarks/merge_speed.py; slow by design.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from lors_search.merging.rules import DEFAULT_RULES, MergeRule, assign_treatments
from lors_search.merging.topk import keep_count


def reference_pruned(delta: Tensor, rank: int, density: float) -> Tensor:
    """D_hat = L + S for one matrix: rank-`rank` SVD truncation plus the top-k of the residual."""
    delta = delta.to(torch.float32)
    u, s, vh = torch.linalg.svd(delta, full_matrices=False)
    r = min(rank, s.numel())
    lowrank = u[:, :r] @ torch.diag(s[:r]) @ vh[:r]
    residual = delta - lowrank
    k = keep_count(density, residual.numel())
    sparse = torch.zeros_like(residual).reshape(-1)
    if k > 0:
        index = torch.topk(residual.abs().reshape(-1), k).indices
        sparse[index] = residual.reshape(-1)[index]
    return lowrank + sparse.reshape(residual.shape)


def reference_lors_merge(
    base_state: Mapping[str, Tensor],
    expert_states: Sequence[Mapping[str, Tensor]],
    rank: int,
    density: float,
    scale: float,
    rules: Sequence[MergeRule] = DEFAULT_RULES,
) -> dict[str, Tensor]:
    """theta_0 + scale * sum_i tau_hat_i with one global rank, density and scale; fp32 maths."""
    treatments = assign_treatments(base_state, rules)
    merged: dict[str, Tensor] = {}
    for name, base in base_state.items():
        treatment = treatments[name]
        if treatment == "base":
            merged[name] = base.clone()
            continue
        total = torch.zeros_like(base, dtype=torch.float32)
        for state in expert_states:
            delta = state[name].to(torch.float32) - base.to(torch.float32)
            total += reference_pruned(delta, rank, density) if treatment == "lowrank_sparse" else delta
        merged[name] = (base.to(torch.float32) + scale * total).to(base.dtype)
    return merged
