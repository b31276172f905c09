"""Reusable scratch buffers for the per-call merge, so thousands of merges do not allocate per tensor.

Buffers are keyed by shape and device; the per-call merge borrows them, never keeps references out.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lors_search.merging.topk import sample_index


class Workspace:
    """Scratch tensors and threshold-sampling positions, created on first use and kept."""

    def __init__(self) -> None:
        self._buffers: dict[tuple[tuple[int, ...], str, int, torch.dtype], Tensor] = {}
        self._samples: dict[tuple[int, str], Tensor] = {}

    def buffer(
        self, shape: torch.Size | tuple[int, ...], device: torch.device, slot: int, dtype: torch.dtype = torch.float32
    ) -> Tensor:
        """Scratch tensor number `slot` of this shape, device and dtype (contents undefined)."""
        key = (tuple(shape), str(device), slot, dtype)
        found = self._buffers.get(key)
        if found is None:
            found = torch.empty(tuple(shape), dtype=dtype, device=device)
            self._buffers[key] = found
        return found

    def flags(self, shape: torch.Size | tuple[int, ...], device: torch.device) -> tuple[Tensor, Tensor]:
        """Two bool scratch tensors for the top-k selection."""
        return self.buffer(shape, device, 0, torch.bool), self.buffer(shape, device, 1, torch.bool)

    def sample(self, numel: int, device: torch.device) -> Tensor:
        """Fixed positions used to bracket top-k thresholds of tensors with `numel` entries."""
        key = (numel, str(device))
        found = self._samples.get(key)
        if found is None:
            found = sample_index(numel, device)
            self._samples[key] = found
        return found

    def clear(self) -> None:
        """Free every buffer (e.g. before a large allocation elsewhere)."""
        self._buffers.clear()
        self._samples.clear()
