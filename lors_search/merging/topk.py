"""Exact magnitude top-k selection, fast on CPU: exactly k entries survive, ties broken by position.

LoRS-Merging's sparse step (arXiv 2502.17380) keeps the k = floor(rho * numel) largest-|.| entries of a
matrix. `torch.topk`/`kthvalue` over a whole matrix are single-threaded and slow on CPU, so the k-th
largest magnitude is bracketed with a fixed random sample and two exact counting passes, and only the
entries inside the bracket (well under 1 %) are selected exactly. The result is exact whatever the
sample: it only decides how much work the exact step does.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch
from torch import Tensor

# Below this many entries a plain kthvalue is as fast as bracketing.
_BRACKET_MIN_NUMEL = 65_536
SAMPLE_SIZE = 16_384
# The first _COARSE drawn values, sorted, locate a window of the threshold; the rest refine it.
_COARSE = 1024
_COARSE_SIGMAS = 5.0
_FINE_SIGMAS = 4.0


def sample_index(numel: int, device: torch.device | str | None = None, size: int = SAMPLE_SIZE) -> Tensor:
    """Fixed pseudo-random positions (seed 0) used to bracket thresholds of `numel`-entry tensors."""
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, numel, (size,), generator=generator).to(device)


def kth_largest(
    values: Tensor, k: int, sample: Tensor | None = None, scratch: tuple[Tensor, Tensor] | None = None
) -> float:
    """The k-th largest entry of the 1-D tensor `values` (1 <= k <= numel), exactly.

    With `sample` (positions from `sample_index`), a CPU tensor is searched only inside a narrow bracket
    around the threshold; CUDA uses its radix-select kthvalue directly. `scratch`: two bool tensors of
    `values`' size, reused to avoid allocation.
    """
    numel = values.numel()
    if not 1 <= k <= numel:
        raise ValueError(f"k must be in [1, {numel}], got {k}")
    if sample is not None and numel >= _BRACKET_MIN_NUMEL and values.device.type == "cpu":
        return _bracketed_kth_largest(values, k, sample, scratch)
    return float(torch.kthvalue(values, numel - k + 1).values)


class _SampleQuantiles:
    """Order statistics of a random sample of the values near the position of the k-th largest entry.

    A small sorted prefix of the sample gives a window that surely holds the threshold; only the sample
    values inside the window are sorted.
    """

    def __init__(self, drawn: np.ndarray, below: float) -> None:
        coarse = np.sort(drawn[:_COARSE])
        size = coarse.size
        spread = _COARSE_SIGMAS * math.sqrt(below * (1.0 - below) / size) + 2.0 / size
        low_at, high_at = math.floor((below - spread) * size), math.ceil((below + spread) * size)
        low = float(coarse[low_at]) if low_at >= 0 else -math.inf
        high = float(coarse[high_at]) if high_at < size else math.inf
        self.size = drawn.size
        self.offset = int(np.count_nonzero(drawn < low))  # sample values below the window
        self.window = np.sort(drawn[(drawn >= low) & (drawn <= high)])

    def at(self, position: float) -> float:
        """The sample value at an ascending position, or -inf/inf outside the window (always safe)."""
        index = round(position) - self.offset
        if index < 0:
            return -math.inf
        if index >= self.window.size:
            return math.inf
        return float(self.window[index])


def _bracketed_kth_largest(
    values: Tensor, k: int, sample: Tensor, scratch: tuple[Tensor, Tensor] | None
) -> float:
    """Exact k-th largest: a bracket [low, high) with count(>= high) < k <= count(>= low), from the sample
    and two exact counts, then selection inside the bracket only (a fraction of a percent of the entries).

    numpy on the tensors' memory (zero-copy): its comparisons, counts and boolean indexing are several
    times faster than torch's on CPU for this access pattern.
    """
    data = values.numpy()
    numel = data.size
    if scratch is None:
        first, second = np.empty(numel, dtype=bool), np.empty(numel, dtype=bool)
    else:
        first, second = (buffer.reshape(-1).numpy() for buffer in scratch)
    below = (numel - k) / numel  # fraction of entries below the threshold
    quantiles = _SampleQuantiles(data[sample.numpy()], below)
    scale = quantiles.size / numel  # sample steps per entry
    guess = quantiles.at(below * quantiles.size)
    at_guess = int(np.count_nonzero(np.greater_equal(data, guess, out=first)))
    # The exact count at the guess says where the threshold sits; the sample's spacing near it sets how
    # far the other end of the bracket must go.
    position = below * quantiles.size + (at_guess - k) * scale
    margin = _FINE_SIGMAS * math.sqrt(max(1.0, abs(at_guess - k) * scale)) + 2.0
    for _ in range(3):
        if at_guess >= k:
            high = quantiles.at(position + margin)
            at_high, at_low = int(np.count_nonzero(np.greater_equal(data, high, out=second))), at_guess
            low_flags, high_flags = first, second
        else:
            low = quantiles.at(position - margin)
            at_high, at_low = at_guess, int(np.count_nonzero(np.greater_equal(data, low, out=second)))
            low_flags, high_flags = second, first
        if at_high < k <= at_low:
            break
        margin *= 8.0
    else:  # the sample misled us three times: fall back to selecting over everything
        return float(torch.kthvalue(values, numel - k + 1).values)
    inside = data[np.logical_xor(low_flags, high_flags, out=low_flags)]  # low <= value < high
    wanted = k - at_high  # rank of the threshold inside the bracket, from the top
    return float(np.partition(inside, inside.size - wanted)[inside.size - wanted])


def _count(flags: Tensor) -> int:
    """Number of 1.0 entries of a 0/1 float tensor (float32 sums of 0/1 are exact below 2**24 entries)."""
    return int(flags.sum(dtype=torch.float64) if flags.numel() > 2**24 else flags.sum())


def topk_mask_(
    magnitudes: Tensor,
    k: int,
    out: Tensor,
    sample: Tensor | None = None,
    scratch: tuple[Tensor, Tensor] | None = None,
    *,
    complement: bool = False,
) -> Tensor:
    """Write into `out` (contiguous, float, magnitudes' shape) 1.0 at the k largest entries, else 0.0;
    with `complement`, 1.0 at the numel - k others instead.

    Exactly k entries are kept: among entries equal to the threshold, those with the lowest flat index.
    `sample` and `scratch` (two bool tensors of the same size) as for `kth_largest`.
    """
    numel = magnitudes.numel()
    if k <= 0 or k >= numel:
        return out.fill_(1.0 if (k >= numel) != complement else 0.0)
    flat = magnitudes.reshape(-1)
    threshold = kth_largest(flat, k, sample, scratch)
    if complement:
        torch.lt(magnitudes, threshold, out=out)
        kept = numel - _count(out)
    else:
        torch.ge(magnitudes, threshold, out=out)
        kept = _count(out)
    if kept > k:  # ties at the threshold: drop the surplus with the highest indices
        ties = torch.nonzero(flat == threshold).reshape(-1)
        out.view(-1)[ties[ties.numel() - (kept - k) :]] = 1.0 if complement else 0.0
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
