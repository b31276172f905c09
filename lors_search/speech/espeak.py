"""A small ctypes binding to the eSpeak NG speech synthesiser shipped by the PyPI package `espeakng-loader`
(which only returns the library and data paths): text in, 22,050 Hz mono float32 samples out.

API used: eSpeak NG's classic `speak_lib.h` interface in synchronous mode (`espeak_Initialize`,
`espeak_SetSynthCallback`, `espeak_SetVoiceByName`, `espeak_SetParameter`, `espeak_Synth`,
`espeak_Synchronize`) plus `espeak_ng_SetRandSeed`.

Determinism: the library keeps synthesis state in C statics that no API call resets (the pitch-flutter
phase in `AdvanceParameters`, the automatic gain, the echo buffer), so the same text synthesised twice in
one process differs sample by sample. Speech is therefore made in sessions, each a freshly loaded copy of
the library (`dlclose` + `dlopen`, then loading the voice: about 4 ms), with `espeak_ng_SetRandSeed` set
per utterance: what a session says depends only on its calls, never on what the process did before, which
is what lets a worker pool reproduce a single-process build bit for bit. Rate and pitch are set explicitly
on every call for the same reason. `Espeak.synthesize` is a session of one utterance.
"""

from __future__ import annotations

import _ctypes
import contextlib
import ctypes
import functools
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lors_search.errors import UserError

SAMPLE_RATE = 22_050
RATE_RANGE = (80, 450)  # words per minute accepted by espeakRATE
PITCH_RANGE = (0, 99)  # espeakPITCH

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_EE_OK = 0

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


def _paths() -> tuple[str, str]:
    try:
        import espeakng_loader
    except ImportError as exc:  # pragma: no cover - a pinned dependency
        raise UserError("the package espeakng-loader is not installed (pip install espeakng-loader)") from exc
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


@functools.lru_cache(maxsize=1)
def available_variants() -> frozenset[str]:
    """Names of the voice variants (`m1`, `f3`, `klatt`, `whisper`, ...) in the shipped voice data."""
    data = Path(_paths()[1]) / "voices" / "!v"
    return frozenset(p.name for p in data.iterdir() if p.is_file())


def voice_name(language: str, variant: str = "") -> str:
    """eSpeak's voice string for a language and an optional variant: `de`, `de+f3`."""
    return f"{language}+{variant}" if variant else language


class Espeak:
    """One eSpeak NG engine for this process. The library has global state, so there must be one per
    process: use `engine()`. Calls are serialised by a lock; a forked child builds its own engine."""

    def __init__(self) -> None:
        self._library_path, data_path = _paths()
        self._data_path = data_path.encode()
        self._lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._callback = _SynthCallback(self._collect)  # kept referenced: the C side holds a raw pointer
        self._checked_voices: dict[str, bool] = {}
        self.version = self._version()

    def _collect(self, wav: ctypes._Pointer, count: int, _events: int) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def _open(self) -> ctypes.CDLL:
        lib = ctypes.CDLL(self._library_path, mode=os.RTLD_LOCAL)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self._data_path, _INITIALIZE_DONT_EXIT)
        if rate != SAMPLE_RATE:
            self._close(lib)
            raise RuntimeError(f"eSpeak NG initialised at {rate} Hz, expected {SAMPLE_RATE}")
        lib.espeak_SetSynthCallback(self._callback)
        return lib

    @staticmethod
    def _close(lib: ctypes.CDLL) -> None:
        lib.espeak_Terminate()
        _ctypes.dlclose(lib._handle)  # the last reference: the next dlopen starts from pristine statics

    def _version(self) -> str:
        with self._lock:
            lib = self._open()
            try:
                return str(lib.espeak_Info(None).decode())
            finally:
                self._close(lib)

    def has_voice(self, voice: str) -> bool:
        """Whether `voice` (`lang` or `lang+variant`) names an installed language and variant."""
        if voice not in self._checked_voices:
            language, _, variant = voice.partition("+")
            # SetVoiceByName accepts any unknown variant silently, so variants are checked against the files.
            ok = not variant or variant in available_variants()
            if ok:
                with self._lock:
                    lib = self._open()
                    try:
                        ok = lib.espeak_SetVoiceByName(language.encode()) == _EE_OK
                    finally:
                        self._close(lib)
            self._checked_voices[voice] = ok
        return self._checked_voices[voice]

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A freshly loaded copy of the library for a run of utterances. What a session says depends on
        the arguments of its calls and on the utterances before them in the same session, nothing else."""
        with self._lock:
            lib = self._open()
            try:
                yield Session(self, lib)
            finally:
                self._close(lib)

    def synthesize(self, text: str, voice: str, *, rate: int = 175, pitch: int = 50, seed: int = 0) -> np.ndarray:
        """Speak `text` in a session of its own: the result depends only on the arguments."""
        with self.session() as session:
            return session.synthesize(text, voice, rate=rate, pitch=pitch, seed=seed)

    def _take_chunks(self) -> list[np.ndarray]:
        chunks, self._chunks = self._chunks, []
        return chunks


class Session:
    """Synthesis in one loaded copy of the library (see `Espeak.session`)."""

    def __init__(self, owner: Espeak, lib: ctypes.CDLL) -> None:
        self._owner, self._lib = owner, lib

    def synthesize(self, text: str, voice: str, *, rate: int = 175, pitch: int = 50, seed: int = 0) -> np.ndarray:
        """Speak `text` with `voice` at `rate` words/min and `pitch` (0-99): float32 samples in [-1, 1)
        at `SAMPLE_RATE`."""
        if not RATE_RANGE[0] <= rate <= RATE_RANGE[1]:
            raise ValueError(f"rate {rate} outside {RATE_RANGE}")
        if not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
            raise ValueError(f"pitch {pitch} outside {PITCH_RANGE}")
        variant = voice.partition("+")[2]
        # SetVoiceByName accepts an unknown variant silently, so variants are checked against the files.
        if variant and variant not in available_variants():
            raise UserError(f"eSpeak NG has no voice {voice!r}")
        lib = self._lib
        lib.espeak_ng_SetRandSeed(seed)
        if lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            raise UserError(f"eSpeak NG has no voice {voice!r}")
        # Rate and pitch persist across calls: set both every time.
        lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
        lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
        self._owner._take_chunks()
        encoded = text.encode("utf-8") + b"\0"
        status = lib.espeak_Synth(encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        lib.espeak_Synchronize()
        chunks = self._owner._take_chunks()
        if status != _EE_OK:
            raise RuntimeError(f"espeak_Synth failed with status {status} for {text!r}")
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return (np.concatenate(chunks).astype(np.float32) / 32768.0).astype(np.float32)


_engine: Espeak | None = None
_engine_pid: int | None = None
_engine_lock = threading.Lock()


def engine() -> Espeak:
    """This process's engine, created on first use (and again in a forked child)."""
    global _engine, _engine_pid
    with _engine_lock:
        if _engine is None or _engine_pid != os.getpid():
            _engine = Espeak()
            _engine_pid = os.getpid()
        return _engine
