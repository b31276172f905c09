"""Resampling, speech power, trimming and noise at a requested SNR, on signals with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lors_search.speech.audio import (
    Resampler,
    add_noise,
    coloured_noise,
    fits_window,
    speech_power,
    trim_silence,
)

RESAMPLER = Resampler(22_050, 16_000)


def _sine(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(round(rate * seconds)) / rate)).astype(np.float32)


def _peak_frequency(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.argmax(spectrum) * rate / len(signal))


def test_resampler_ratio_and_length() -> None:
    assert (RESAMPLER.up, RESAMPLER.down) == (320, 441)
    for n in (0, 1, 440, 441, 22_050, 33_333):
        assert len(RESAMPLER(np.zeros(n, dtype=np.float32))) == math.ceil(n * 320 / 441)


@pytest.mark.parametrize("freq", [220.0, 1000.0, 3150.0, 6000.0])
def test_resampler_keeps_a_sines_frequency_amplitude_and_phase(freq: float) -> None:
    out = RESAMPLER(_sine(freq, 22_050, 1.0))
    assert out.dtype == np.float32
    assert abs(_peak_frequency(out, 16_000) - freq) <= 1.0  # 1-Hz bins over one second
    inner = out[500:-500]  # away from the filter's edge transients
    expected = _sine(freq, 16_000, 1.0)[500:-500]
    assert np.abs(inner - expected).max() < 1e-3
    rms = float(np.sqrt(np.mean(inner**2)))
    assert rms == pytest.approx(0.5 / math.sqrt(2), rel=1e-3)


def test_resampler_rejects_what_16_khz_cannot_carry() -> None:
    # 9 kHz is above the 8-kHz Nyquist frequency of the output: it must not alias back in.
    out = RESAMPLER(_sine(9000.0, 22_050, 1.0))[500:-500]
    assert float(np.sqrt(np.mean(out**2))) < 0.5 * 10 ** (-60 / 20)


def test_resampler_passes_dc_exactly() -> None:
    out = RESAMPLER(np.full(22_050, 0.25, dtype=np.float32))
    assert np.allclose(out[200:-200], 0.25, atol=1e-6)


def _bursts(rate: int = 16_000) -> np.ndarray:
    """0.5 s silence, 1 s of a 0.4-amplitude sine, 0.5 s silence, 0.5 s sine, 0.5 s silence."""
    silence = np.zeros(rate // 2, dtype=np.float32)
    return np.concatenate([silence, _sine(500, rate, 1.0, 0.4), silence, _sine(500, rate, 0.5, 0.4), silence])


def test_speech_power_is_the_power_of_the_voiced_part_only() -> None:
    signal = _bursts()
    assert speech_power(signal, 16_000) == pytest.approx(0.4**2 / 2, rel=1e-3)
    assert float(np.mean(signal**2)) < 0.6 * speech_power(signal, 16_000)  # silence would dilute it
    assert speech_power(np.zeros(1000, dtype=np.float32), 16_000) == 0.0


def test_trim_silence_keeps_the_margin_around_speech() -> None:
    signal = _bursts()
    trimmed = trim_silence(signal, 16_000, margin_seconds=0.1)
    # Speech spans 0.5 s .. 2.5 s; with 0.1-s margins the trimmed clip lasts 2.2 s (to the 20-ms frame).
    assert len(trimmed) == pytest.approx(2.2 * 16_000, abs=320)
    assert np.array_equal(trimmed[1600 : 1600 + 16_000], signal[8000:24_000])
    assert len(trim_silence(np.zeros(100, dtype=np.float32), 16_000)) == 0


@pytest.mark.parametrize("colour", ["white", "pink"])
@pytest.mark.parametrize("snr_db", [0.0, 7.5, 20.0])
def test_noise_hits_the_requested_snr(colour: str, snr_db: float) -> None:
    clean = _bursts()
    noisy = add_noise(clean, 16_000, snr_db, colour, np.random.default_rng(1))  # type: ignore[arg-type]
    noise = noisy.astype(np.float64) - clean
    measured = 10 * math.log10(speech_power(clean, 16_000) / float(np.mean(noise**2)))
    assert abs(measured - snr_db) < 0.5
    again = add_noise(clean, 16_000, snr_db, colour, np.random.default_rng(1))  # type: ignore[arg-type]
    assert np.array_equal(noisy, again)


def test_pink_noise_falls_by_about_3_db_per_octave_and_white_is_flat() -> None:
    rng = np.random.default_rng(0)
    freqs = np.fft.rfftfreq(2**16, 1 / 16_000)

    def band_power(noise: np.ndarray, lo: float, hi: float) -> float:
        spectrum = np.abs(np.fft.rfft(noise)) ** 2
        return float(spectrum[(freqs >= lo) & (freqs < hi)].mean())

    pink, white = coloured_noise(2**16, "pink", rng), coloured_noise(2**16, "white", rng)
    assert np.mean(pink**2) == pytest.approx(1.0) and np.mean(white**2) == pytest.approx(1.0)
    pink_drop = 10 * math.log10(band_power(pink, 500, 1000) / band_power(pink, 4000, 8000))
    white_drop = 10 * math.log10(band_power(white, 500, 1000) / band_power(white, 4000, 8000))
    assert pink_drop == pytest.approx(9.0, abs=1.0)  # three octaves apart
    assert abs(white_drop) < 1.0


def test_fits_window() -> None:
    assert fits_window(np.zeros(80_000), 16_000, 5)
    assert not fits_window(np.zeros(80_001), 16_000, 5)
