"""The eSpeak NG binding: every language speaks, output depends only on the arguments, bad voices refused."""

from __future__ import annotations

import numpy as np
import pytest

from lors_search.errors import UserError
from lors_search.speech.audio import speech_power
from lors_search.speech.content import ContentKey, render
from lors_search.speech.espeak import SAMPLE_RATE, available_variants, engine, voice_name
from lors_search.speech.numbers import SPOKEN_LANGUAGES
from lors_search.speech.plan import VoiceDraw
from lors_search.speech.synth import SAMPLING_RATE, speak

KEY = ContentKey.parse("currency:EUR:21.50")


def _draw(variant: str = "", rate: int = 175, pitch: int = 50, seed: int = 0) -> VoiceDraw:
    return VoiceDraw(variant, rate, pitch, "none", float("nan"), 0, seed)


@pytest.mark.parametrize("language", SPOKEN_LANGUAGES)
def test_every_language_speaks(language: str) -> None:
    text = render(KEY, language)
    clip = speak(text, language, _draw("m3"))
    assert clip.dtype == np.float32
    seconds = len(clip) / SAMPLING_RATE
    assert 1.0 < seconds < 6.0, f"{language}: {text!r} lasted {seconds:.2f} s"
    assert speech_power(clip, SAMPLING_RATE) > 1e-4
    assert np.abs(clip).max() < 1.0


def test_languages_sound_different() -> None:
    clips = {lang: speak(render(KEY, lang), lang, _draw()) for lang in ("es", "de", "ru")}
    lengths = {len(c) for c in clips.values()}
    assert len(lengths) == 3


def test_output_depends_only_on_the_arguments() -> None:
    # The library keeps pitch-flutter state between utterances; the binding must hide it.
    eng = engine()
    first = eng.synthesize("veintiún euros", "es+klatt", rate=150, pitch=40, seed=3)
    eng.synthesize("etwas ganz anderes", "de+f2", rate=300, pitch=10, seed=9)
    eng.synthesize("veintiún euros", "es+klatt", rate=150, pitch=40, seed=4)
    again = eng.synthesize("veintiún euros", "es+klatt", rate=150, pitch=40, seed=3)
    assert np.array_equal(first, again)


def test_a_session_depends_only_on_its_own_calls() -> None:
    eng = engine()
    calls = [("tres mil", "es+m2", 160), ("zweihundert", "de+klatt", 200), ("tres mil", "es+m2", 160)]

    def run() -> list[np.ndarray]:
        with eng.session() as session:
            return [session.synthesize(text, voice, rate=rate, seed=1) for text, voice, rate in calls]

    first = run()
    eng.synthesize("quelque chose", "fr+f1", rate=250)
    second = run()
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert eng.synthesize("tres mil", "es+m2", rate=160, seed=1).shape == first[0].shape


def test_rate_pitch_and_variant_change_the_voice() -> None:
    eng = engine()
    base = eng.synthesize("tres mil cuatrocientos", "es", rate=150, pitch=50)
    fast = eng.synthesize("tres mil cuatrocientos", "es", rate=300, pitch=50)
    assert len(fast) < 0.75 * len(base)
    high = eng.synthesize("tres mil cuatrocientos", "es", rate=150, pitch=90)
    female = eng.synthesize("tres mil cuatrocientos", "es+f3", rate=150, pitch=50)
    n = min(len(base), len(high), len(female))
    assert not np.array_equal(base[:n], high[:n]) and not np.array_equal(base[:n], female[:n])
    assert SAMPLE_RATE == 22_050


def test_unknown_voices_and_bad_parameters_are_refused() -> None:
    eng = engine()
    assert {"m1", "m7", "f1", "f5", "klatt"} <= available_variants()
    assert voice_name("de", "f3") == "de+f3" and voice_name("de") == "de"
    assert eng.has_voice("sv+m2") and not eng.has_voice("xx") and not eng.has_voice("es+nosuchvariant")
    with pytest.raises(UserError, match="no voice"):
        eng.synthesize("hola", "es+nosuchvariant")
    with pytest.raises(ValueError, match="rate"):
        eng.synthesize("hola", "es", rate=20)
    with pytest.raises(ValueError, match="pitch"):
        eng.synthesize("hola", "es", pitch=120)
