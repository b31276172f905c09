"""Low-rank truncation of task-vector matrices: the SVD factors once, the rank-r part per call.

LoRS-Merging (arXiv 2502.17380), step 1: L = U[:, :r] diag(s[:r]) V[:, :r]^T, the best rank-r
approximation of a task-vector matrix D (Eckart-Young). Factors are stored as (U diag(s), V^T).
"""

from __future__ import annotations

import torch
from torch import Tensor


def svd_factors(matrix: Tensor, max_rank: int) -> tuple[Tensor, Tensor]:
    """Return (U[:, :r] * s[:r], Vh[:r]) of the full SVD of `matrix` in fp32, r = min(max_rank, min side).

    Singular values are folded into the left factor so a rank-r part is one matrix product of slices.
    """
    if matrix.ndim != 2:
        raise ValueError(f"low-rank factors need a 2-D matrix, got shape {tuple(matrix.shape)}")
    if max_rank < 0:
        raise ValueError(f"max_rank must be >= 0, got {max_rank}")
    rank = min(max_rank, min(matrix.shape))
    if rank == 0:
        empty = matrix.new_zeros((matrix.shape[0], 0), dtype=torch.float32)
        return empty, matrix.new_zeros((0, matrix.shape[1]), dtype=torch.float32)
    u, s, vh = torch.linalg.svd(matrix.to(torch.float32), full_matrices=False)
    us = (u[:, :rank] * s[:rank]).contiguous()
    return us, vh[:rank].contiguous()


def lowrank_part(us: Tensor, vh: Tensor, rank: int, out: Tensor | None = None) -> Tensor:
    """The rank-`rank` part U[:, :r] diag(s[:r]) V[:, :r]^T from stored factors (no SVD)."""
    if rank > us.shape[1]:
        raise ValueError(f"rank {rank} asked but factors were kept only up to rank {us.shape[1]}")
    if rank == 0:
        if out is None:
            return us.new_zeros((us.shape[0], vh.shape[1]))
        return out.zero_()
    return torch.mm(us[:, :rank], vh[:rank], out=out) if out is not None else torch.mm(us[:, :rank], vh[:rank])


def truncated_svd(matrix: Tensor, rank: int) -> Tensor:
    """One-shot rank-`rank` approximation of `matrix` (full SVD, then truncation), in fp32."""
    us, vh = svd_factors(matrix, rank)
    return lowrank_part(us, vh, us.shape[1])
