"""Exact magnitude top-k selection, fast on CPU: exactly k entries survive, ties broken by position.

LoRS-Merging's sparse step (arXiv 2502.17380) keeps the k = floor(rho * numel) largest-|.| entries of a
matrix. `torch.topk`/`kthvalue` over a whole matrix are single-threaded and slow on CPU, so the k-th
largest magnitude is bracketed from a fixed random sample, and only the entries inside the bracket are
selected exactly; a bracket that misses falls back to `kthvalue` over everything. The result is exact
either way: the sample only decides how much work the exact step does.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch
from torch import Tensor

# Below this many entries a plain kthvalue is as fast as bracketing.
_BRACKET_MIN_NUMEL = 65_536
# Width of the bracket in standard deviations of the sample quantile: a miss (exact fallback) is ~1e-4 likely.
_BRACKET_SIGMAS = 4.0
SAMPLE_SIZE = 4096


def sample_index(numel: int, device: torch.device | str | None = None, size: int = SAMPLE_SIZE) -> Tensor:
    """Fixed pseudo-random positions (seed 0) used to bracket thresholds of `numel`-entry tensors."""
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, numel, (size,), generator=generator).to(device)


def kth_largest(
    values: Tensor, k: int, sample: Tensor | None = None, scratch: tuple[Tensor, Tensor] | None = None
) -> float:
    """The k-th largest entry of the 1-D tensor `values` (1 <= k <= numel), exactly.

    With `sample` (positions from `sample_index`), the exact search runs only inside a bracket around
    the sample's estimate. `scratch`: two float32 tensors of `values`' size, reused to avoid allocation.
    """
    numel = values.numel()
    if not 1 <= k <= numel:
        raise ValueError(f"k must be in [1, {numel}], got {k}")
    if sample is not None and numel >= _BRACKET_MIN_NUMEL:
        found = _bracketed_kth_largest(values, k, sample, scratch)
        if found is not None:
            return found
    return float(torch.kthvalue(values, numel - k + 1).values)


def _count(flags: Tensor) -> int:
    """Number of 1.0 entries of a 0/1 float tensor (float32 sums of 0/1 are exact below 2**24 entries)."""
    return int(flags.sum(dtype=torch.float64) if flags.numel() > 2**24 else flags.sum())


def _bracketed_kth_largest(
    values: Tensor, k: int, sample: Tensor, scratch: tuple[Tensor, Tensor] | None
) -> float | None:
    numel = values.numel()
    drawn = torch.sort(values[sample]).values
    size = drawn.numel()
    below = (numel - k) / numel  # fraction of entries below the threshold's position
    margin = _BRACKET_SIGMAS * math.sqrt(below * (1.0 - below) / size) + 2.0 / size
    low_at = math.floor((below - margin) * size)
    high_at = math.ceil((below + margin) * size)
    low = float(drawn[low_at]) if low_at >= 0 else -math.inf
    high = float(drawn[high_at]) if high_at < size else math.inf
    if scratch is None:
        scratch = (torch.empty_like(values, dtype=torch.float32), torch.empty_like(values, dtype=torch.float32))
    # Float 0/1 flags: comparisons into float buffers are several times faster than into bool on CPU.
    flags, upper = (buffer.view(-1) for buffer in scratch)
    above_high = 0
    if high != math.inf:
        torch.gt(values, high, out=flags)
        above_high = _count(flags)
        if above_high >= k:
            return None
    torch.ge(values, low, out=flags)
    torch.le(values, high, out=upper)
    flags.mul_(upper)
    inside = values[flags.to(torch.bool)]
    wanted = k - above_high  # rank of the threshold among the bracket's entries, from the top
    if wanted > inside.numel():
        return None
    return float(torch.kthvalue(inside, inside.numel() - wanted + 1).values)


def topk_mask_(
    magnitudes: Tensor,
    k: int,
    out: Tensor,
    sample: Tensor | None = None,
    scratch: tuple[Tensor, Tensor] | None = None,
) -> Tensor:
    """Write into `out` (contiguous, float, magnitudes' shape) 1.0 at the k largest entries, else 0.0.

    Exactly k ones: among entries equal to the threshold, those with the lowest flat index are kept.
    """
    numel = magnitudes.numel()
    if k <= 0:
        return out.zero_()
    if k >= numel:
        return out.fill_(1.0)
    flat = magnitudes.reshape(-1)
    threshold = kth_largest(flat, k, sample, scratch)
    torch.ge(magnitudes, threshold, out=out)
    kept = _count(out)
    if kept > k:
        ties = torch.nonzero(flat == threshold).reshape(-1)
        out.view(-1)[ties[ties.numel() - (kept - k) :]] = 0.0
    elif kept < k:
        raise RuntimeError(f"top-k selection kept {kept} entries instead of {k}")
    return out


def topk_magnitude(tensor: Tensor, k: int, sample: Tensor | None = None) -> Tensor:
    """`tensor` with all but its k largest-magnitude entries set to zero (exactly k survive)."""
    mask = torch.empty_like(tensor, dtype=torch.float32)
    topk_mask_(tensor.abs().to(torch.float32), k, mask, sample)
    return tensor * mask.to(tensor.dtype)


def keep_count(density: float, numel: int) -> int:
    """k = floor(density * numel), with density read as the decimal it prints as (0.29 * 100 -> 29, not 28)."""
    return math.floor(Fraction(repr(float(density))) * numel)
