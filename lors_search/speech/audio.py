"""Audio utilities for the synthetic corpus, in numpy only: rational-ratio resampling (eSpeak's 22,050 Hz
to Whisper's 16 kHz), speech power over the voiced part, silence trimming, and white or pink noise mixed
in at a requested signal-to-noise ratio.

The resampler is a windowed-sinc (Kaiser) polyphase filter: for an up/down ratio L/M every output sample
n sits at input position n*M/L and its taps depend only on n mod L, so a filter matrix with one column
per phase turns a strided view of the input (one row per M inputs) into L outputs per row.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

NoiseColour = Literal["white", "pink"]

# Frames for voicing decisions: 20 ms, the usual analysis hop for speech energy.
FRAME_SECONDS = 0.02
# A frame counts as voiced when its energy is within this many dB of the loudest frame.
VOICED_FLOOR_DB = 40.0


class Resampler:
    """Band-limited resampling by a rational factor, `orig_rate` -> `target_rate`.

    `half_width` is the number of input samples on each side of an output sample that the filter uses;
    `cutoff` is the low-pass edge as a fraction of the lower Nyquist frequency; `beta` shapes the Kaiser
    window (8.0: about 80 dB stop-band rejection). DC gain is exactly 1 at every phase.
    """

    # Phases per matrix product and rows per product: small products run single-threaded in BLAS, which
    # here is about 30x faster than a large threaded one when the two cores are shared (measured).
    _PHASES_PER_GROUP = 8
    _ROWS_PER_PRODUCT = 128

    def __init__(
        self, orig_rate: int, target_rate: int, *, half_width: int = 48, cutoff: float = 0.94, beta: float = 8.0
    ) -> None:
        if orig_rate <= 0 or target_rate <= 0:
            raise ValueError("sample rates must be positive")
        g = math.gcd(orig_rate, target_rate)
        self.up, self.down = target_rate // g, orig_rate // g
        self.orig_rate, self.target_rate = orig_rate, target_rate
        self.half_width = half_width
        # Normalised cutoff in cycles per input sample; below the output's Nyquist when downsampling.
        fc = cutoff * 0.5 * min(1.0, self.up / self.down)
        j = np.arange(-half_width + 1, half_width + 1)
        # Output phase p (output n with n % up == p) is centred between input samples base_p and base_p + 1.
        self._groups: list[tuple[int, int, np.ndarray]] = []  # (first phase, first input column, taps)
        for first in range(0, self.up, self._PHASES_PER_GROUP):
            phases = range(first, min(first + self._PHASES_PER_GROUP, self.up))
            bases = [p * self.down // self.up for p in phases]
            columns = bases[-1] - bases[0] + 2 * half_width
            matrix = np.zeros((columns, len(phases)), dtype=np.float64)
            for col, (p, base) in enumerate(zip(phases, bases, strict=True)):
                tau = (p * self.down % self.up) / self.up - j  # distance from the output instant to each input
                window = np.i0(beta * np.sqrt(np.clip(1.0 - (tau / half_width) ** 2, 0.0, None))) / np.i0(beta)
                taps = 2 * fc * np.sinc(2 * fc * tau) * window
                matrix[base - bases[0] + np.arange(2 * half_width), col] = taps / taps.sum()
            self._groups.append((first, bases[0], matrix.astype(np.float32)))

    def output_length(self, n: int) -> int:
        return -(-n * self.up // self.down)

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        x = np.asarray(signal, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError("expected a 1-D signal")
        n_out = self.output_length(len(x))
        if n_out == 0:
            return np.zeros(0, dtype=np.float32)
        blocks = -(-n_out // self.up)
        # Input sample k sits at padded[k + half_width - 1], so every tap index below is non-negative.
        padded = np.zeros(blocks * self.down + self.down + 2 * self.half_width, dtype=np.float32)
        padded[self.half_width - 1 : self.half_width - 1 + len(x)] = x
        out = np.empty((blocks, self.up), dtype=np.float32)
        for first, column, matrix in self._groups:
            view = np.lib.stride_tricks.sliding_window_view(padded[column:], matrix.shape[0])[:: self.down]
            for row in range(0, blocks, self._ROWS_PER_PRODUCT):
                rows = np.ascontiguousarray(view[row : min(blocks, row + self._ROWS_PER_PRODUCT)])
                out[row : row + len(rows), first : first + matrix.shape[1]] = rows @ matrix
        return out.reshape(-1)[:n_out]


def _frames(signal: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean square and sample count of consecutive `FRAME_SECONDS` frames (the last one may be partial)."""
    size = max(1, round(FRAME_SECONDS * rate))
    n = -(-len(signal) // size)
    padded = np.zeros(n * size, dtype=np.float32)
    padded[: len(signal)] = signal
    squares = np.square(padded.reshape(n, size), dtype=np.float64).sum(axis=1)
    counts = np.full(n, size, dtype=np.float64)
    if n and len(signal) % size:
        counts[-1] = len(signal) % size
    return squares / np.maximum(counts, 1), counts


def frame_energy(signal: np.ndarray, rate: int) -> np.ndarray:
    """Mean square of consecutive `FRAME_SECONDS` frames (the last partial frame included)."""
    return _frames(signal, rate)[0]


def _voiced(energy: np.ndarray, floor_db: float) -> np.ndarray:
    if energy.size == 0 or energy.max() <= 0:
        return np.zeros(energy.shape, dtype=bool)
    return energy >= energy.max() * 10 ** (-floor_db / 10)


def voiced_frames(signal: np.ndarray, rate: int, floor_db: float = VOICED_FLOOR_DB) -> np.ndarray:
    """Boolean mask of frames whose energy is within `floor_db` of the loudest frame."""
    return _voiced(frame_energy(signal, rate), floor_db)


def speech_power(signal: np.ndarray, rate: int) -> float:
    """Mean square of the signal over its voiced frames: the 'S' of the SNR, so pauses and the silence
    around an utterance do not lower it."""
    energy, counts = _frames(signal, rate)
    mask = _voiced(energy, VOICED_FLOOR_DB)
    if not mask.any():
        return 0.0
    return float((energy[mask] * counts[mask]).sum() / counts[mask].sum())


def trim_silence(signal: np.ndarray, rate: int, margin_seconds: float = 0.1) -> np.ndarray:
    """Cut leading and trailing silence, keeping `margin_seconds` around the voiced frames."""
    mask = voiced_frames(signal, rate, floor_db=50.0)
    if not mask.any():
        return signal[:0]
    size = max(1, round(FRAME_SECONDS * rate))
    voiced = np.flatnonzero(mask)
    margin = round(margin_seconds * rate)
    start = max(0, voiced[0] * size - margin)
    stop = min(len(signal), (voiced[-1] + 1) * size + margin)
    return signal[start:stop]


def coloured_noise(length: int, colour: NoiseColour, rng: np.random.Generator) -> np.ndarray:
    """Unit-power Gaussian noise: flat spectrum (white) or power falling as 1/f (pink)."""
    if length == 0:
        return np.zeros(0, dtype=np.float64)
    if colour == "white":
        noise = rng.standard_normal(length)
    elif colour == "pink":
        # Drawn directly in the frequency domain (independent complex Gaussian bins scaled by 1/sqrt(f)),
        # which is Gaussian noise with a 1/f power spectrum at the cost of one inverse FFT.
        bins = length // 2 + 1
        spectrum = rng.standard_normal(bins) + 1j * rng.standard_normal(bins)
        spectrum[1:] /= np.sqrt(np.arange(1, bins, dtype=np.float64))
        spectrum[0] = 0.0
        noise = np.fft.irfft(spectrum, n=length)
    else:
        raise ValueError(f"unknown noise colour {colour!r}")
    power = float(np.mean(noise**2))
    return noise / math.sqrt(power) if power > 0 else noise


def add_noise(
    signal: np.ndarray, rate: int, snr_db: float, colour: NoiseColour, rng: np.random.Generator
) -> np.ndarray:
    """`signal` plus noise whose power is the voiced speech power divided by 10^(snr_db/10)."""
    power = speech_power(signal, rate)
    if power <= 0:
        raise ValueError("cannot set an SNR on a silent signal")
    noise = coloured_noise(len(signal), colour, rng) * math.sqrt(power / 10 ** (snr_db / 10))
    return (signal + noise).astype(np.float32)


def fits_window(signal: np.ndarray, rate: int, window_seconds: float) -> bool:
    return len(signal) <= round(window_seconds * rate)
