"""Reusable scratch buffers for the per-call merge, so thousands of merges do not allocate per tensor.

Buffers are keyed by shape and device; the per-call merge borrows them, never keeps references out.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lors_search.merging.topk import sample_index


class Workspace:
    """Float32 scratch tensors and threshold-sampling positions, created on first use and kept."""

    def __init__(self) -> None:
        self._buffers: dict[tuple[tuple[int, ...], str, int], Tensor] = {}
        self._samples: dict[tuple[int, str], Tensor] = {}

    def buffer(self, shape: torch.Size | tuple[int, ...], device: torch.device, slot: int) -> Tensor:
        """Scratch tensor number `slot` of this shape and device (contents undefined)."""
        key = (tuple(shape), str(device), slot)
        found = self._buffers.get(key)
        if found is None:
            found = torch.empty(tuple(shape), dtype=torch.float32, device=device)
            self._buffers[key] = found
        return found

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
