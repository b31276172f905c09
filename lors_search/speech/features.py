"""Whisper log-mel features of a corpus split, computed once with the real `WhisperFeatureExtractor` and
cached beside the data as a float16 `.npy` that is returned memory-mapped and read-only (the search ships
these arrays through Ray's object store).

Cache: `DATA_DIR/features/<split>-<window>s.npy` plus a `.json` holding the fingerprint it was computed
from (the split's datasets fingerprint, row count and data files, the extractor's settings, the
transformers version); any difference means the cache is stale and is recomputed. A real 30-s Whisper
needs 30-s padded features of the same audio: ask for `window_seconds=30`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lors_search.errors import UserError
from lors_search.fsutil import atomic_write_text, make_user_readable
from lors_search.whisper.model import MEL_BINS, SAMPLING_RATE

FEATURES_DIR = "features"
FRAMES_PER_SECOND = 100  # Whisper's hop of 160 samples at 16 kHz
_FORMAT_VERSION = 1
_BATCH = 64


def feature_extractor(window_seconds: int) -> Any:
    """A `WhisperFeatureExtractor` with the settings of `lors_search.whisper.model.build_processor`."""
    from transformers import WhisperFeatureExtractor

    return WhisperFeatureExtractor(feature_size=MEL_BINS, sampling_rate=SAMPLING_RATE, chunk_length=window_seconds)


def features_for(audio_arrays: Sequence[np.ndarray], window_seconds: int) -> np.ndarray:
    """Log-mel features, float16 [N, 80, 100 * window_seconds], of 16-kHz clips padded to the window."""
    extractor = feature_extractor(window_seconds)
    out = np.empty((len(audio_arrays), MEL_BINS, FRAMES_PER_SECOND * window_seconds), dtype=np.float16)
    for start in range(0, len(audio_arrays), _BATCH):
        out[start : start + _BATCH] = _extract(extractor, list(audio_arrays[start : start + _BATCH]), window_seconds)
    return out


def _extract(extractor: Any, clips: list[np.ndarray], window_seconds: int) -> np.ndarray:
    limit = window_seconds * SAMPLING_RATE
    longest = max((len(c) for c in clips), default=0)
    if longest > limit:
        raise UserError(
            f"a clip lasts {longest / SAMPLING_RATE:.2f} s, longer than the {window_seconds}-s window; "
            "features would cut it (use a longer window)"
        )
    batch = [np.asarray(c, dtype=np.float32) for c in clips]
    features = extractor(
        batch, sampling_rate=SAMPLING_RATE, padding="max_length", max_length=limit, return_tensors="np"
    )["input_features"]
    return features.astype(np.float16)


def load_features(
    data_dir: str | Path, split: str, window_seconds: int | None = None, *, progress: bool = False
) -> np.ndarray:
    """Features of every row of `split`, in dataset order: float16 [N, 80, 100 * window], memory-mapped
    read-only. `window_seconds` defaults to the corpus's window (from its `corpus_spec.json`)."""
    from datasets import load_from_disk

    data_dir = Path(data_dir)
    if window_seconds is None:
        from lors_search.speech.corpus import read_corpus_spec

        window_seconds = read_corpus_spec(data_dir).window_seconds
    if not 1 <= window_seconds <= 30:
        raise UserError(f"window_seconds must be 1..30, got {window_seconds}")
    try:
        splits = load_from_disk(str(data_dir))
    except FileNotFoundError:
        raise UserError(f"{data_dir} is not a dataset saved with save_to_disk") from None
    if split not in splits:
        raise UserError(f"{data_dir} has no split {split!r}; it has {', '.join(splits)}")
    dataset = splits[split]
    extractor = feature_extractor(window_seconds)
    fingerprint = _fingerprint(dataset, extractor)
    target = data_dir / FEATURES_DIR / f"{split}-{window_seconds}s.npy"
    meta = target.with_suffix(".json")
    shape = (len(dataset), MEL_BINS, FRAMES_PER_SECOND * window_seconds)
    if not _cache_valid(target, meta, fingerprint, shape):
        _compute(dataset, extractor, window_seconds, target, shape, progress)
        atomic_write_text(meta, json.dumps({"fingerprint": fingerprint, "shape": list(shape)}) + "\n")
    return np.load(target, mmap_mode="r")


def _fingerprint(dataset: Any, extractor: Any) -> str:
    import transformers

    settings = {k: v for k, v in extractor.to_dict().items() if not isinstance(v, (list, np.ndarray))}
    files = [(Path(f["filename"]).name, os.path.getsize(f["filename"])) for f in dataset.cache_files]
    identity = {
        "format": _FORMAT_VERSION,
        "dataset": dataset._fingerprint,  # changes whenever the split's content does
        "rows": len(dataset),
        "files": files,
        "extractor": settings,
        "mel_filters": hashlib.sha256(np.ascontiguousarray(extractor.mel_filters).tobytes()).hexdigest(),
        "transformers": transformers.__version__,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def _cache_valid(target: Path, meta: Path, fingerprint: str, shape: tuple[int, ...]) -> bool:
    try:
        stored = json.loads(meta.read_text(encoding="utf-8"))
        header = np.load(target, mmap_mode="r")
    except (OSError, ValueError):
        return False
    return stored.get("fingerprint") == fingerprint and header.shape == shape and header.dtype == np.float16


def _compute(
    dataset: Any, extractor: Any, window_seconds: int, target: Path, shape: tuple[int, ...], progress: bool
) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=shape)
        arrow = dataset.with_format("arrow")
        starts = range(0, len(dataset), _BATCH)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc=f"log-mel features ({target.stem})", unit="batch")
        for start in starts:
            column = arrow[start : start + _BATCH]["audio"].combine_chunks()
            offsets = column.offsets.to_numpy()
            values = column.values.to_numpy(zero_copy_only=False)
            clips = [values[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
            out[start : start + len(clips)] = _extract(extractor, clips, window_seconds)
        out.flush()
        del out
        make_user_readable(tmp)  # mkstemp made it 0600; the cache sits beside data other users may read
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
