"""Rendering one planned clip: eSpeak NG speech at 22,050 Hz, resampled to 16 kHz, trimmed, checked against
the model window, optionally padded to the window and mixed with noise. Runs in synthesis workers, so it
imports nothing heavier than numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lors_search.speech import audio
from lors_search.speech.espeak import SAMPLE_RATE as ESPEAK_RATE
from lors_search.speech.espeak import Session, engine, voice_name
from lors_search.speech.plan import ClipJob, VoiceDraw

SAMPLING_RATE = 16_000  # Whisper's input rate

_resampler: audio.Resampler | None = None


def resampler() -> audio.Resampler:
    global _resampler
    if _resampler is None:
        _resampler = audio.Resampler(ESPEAK_RATE, SAMPLING_RATE)
    return _resampler


@dataclass(frozen=True)
class RenderedClip:
    samples: np.ndarray  # float32, 16 kHz
    draw: VoiceDraw
    voice: str


def speak(
    text: str, language: str, draw: VoiceDraw, trim_margin_seconds: float = 0.1, session: Session | None = None
) -> np.ndarray:
    """Clean 16-kHz speech for `text` with the voice of `draw`, leading and trailing silence trimmed (in
    `session`, or in a session of its own)."""
    voice = voice_name(language, draw.variant)
    if session is None:
        raw = engine().synthesize(text, voice, rate=draw.rate, pitch=draw.pitch, seed=draw.synth_seed)
    else:
        raw = session.synthesize(text, voice, rate=draw.rate, pitch=draw.pitch, seed=draw.synth_seed)
    speech = audio.trim_silence(resampler()(raw), SAMPLING_RATE, trim_margin_seconds)
    if speech.size == 0:
        raise RuntimeError(f"eSpeak NG produced silence for {text!r} ({language})")
    return speech


def render_chunk(jobs: list[ClipJob]) -> list[RenderedClip | None]:
    """Render clips one after the other in one eSpeak session (the voice is loaded once for all of them)."""
    with engine().session() as session:
        return [render_clip(job, session) for job in jobs]


def render_clip(job: ClipJob, session: Session | None = None) -> RenderedClip | None:
    """The clip said with the first voice draw that fits the window; None when none does (the caller then
    replaces the content: clips are re-drawn, never truncated)."""
    window = job.window_seconds * SAMPLING_RATE
    for draw in job.draws:
        speech = speak(job.text, job.language, draw, job.trim_margin_seconds, session)
        if len(speech) > window:
            continue
        if job.fill_window:
            speech = np.concatenate([speech, np.zeros(window - len(speech), dtype=np.float32)])
        if draw.noise != "none":
            rng = np.random.default_rng(draw.noise_seed)
            speech = audio.add_noise(speech, SAMPLING_RATE, draw.snr_db, draw.noise, rng)  # type: ignore[arg-type]
        return RenderedClip(speech.astype(np.float32, copy=False), draw, voice_name(job.language, draw.variant))
    return None
