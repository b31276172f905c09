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
        # Per-tensor results a method may reuse while its inputs are the same objects (RegMean's unscaled merge).
        self._memo: dict[tuple[str, str], tuple[tuple[object, ...], Tensor]] = {}

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

    def memo(self, kind: str, tensor: str, inputs: tuple[object, ...]) -> Tensor | None:
        """The result stored for (`kind`, `tensor`) when it was computed from `inputs` (compared by identity
        for tensors, by value otherwise), else None. One entry per (kind, tensor): memory stays bounded."""
        found = self._memo.get((kind, tensor))
        if found is None or len(found[0]) != len(inputs):
            return None
        same = all(a is b if isinstance(a, Tensor) else a == b for a, b in zip(found[0], inputs, strict=True))
        return found[1] if same else None

    def remember(self, kind: str, tensor: str, inputs: tuple[object, ...], result: Tensor) -> None:
        """Store `result` for (`kind`, `tensor`), replacing the previous one (it keeps `inputs` alive)."""
        self._memo[(kind, tensor)] = (inputs, result)

    def clear(self) -> None:
        """Free every buffer (e.g. before a large allocation elsewhere)."""
        self._buffers.clear()
        self._samples.clear()
        self._memo.clear()
