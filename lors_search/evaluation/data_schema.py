"""Cheap checks of an evaluation split from its files (dataset_dict.json, state.json, the Arrow schema, the
recorded sampling rate), before any feature is computed or any actor starts: the split has data files, its
`audio` column holds plain float samples, and the audio was recorded at the rate the features assume.

Audio is stored as plain float arrays (DESIGN.md: `datasets`' `Audio` feature, a struct of bytes/path or
array/sampling_rate, needs torchcodec, which does not load beside the CPU torch); the log-mel features are
computed at Whisper's 16 kHz (`lors_search.whisper.model.SAMPLING_RATE`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lors_search.errors import UserError
from lors_search.whisper.model import SAMPLING_RATE

AUDIO_COLUMN = "audio"
# Where a dataset records its sampling rate: the corpus build's info file (lors_search.speech.corpus).
INFO_FILE = "corpus_info.json"


def check_eval_data(data_dir: str | os.PathLike[str], split: str, *, require_audio: bool = True) -> None:
    """UserError naming the file or column on the first problem of `split` in `data_dir`.

    require_audio False accepts a split without an `audio` column (a template corpus that only lists clips,
    enough to validate a space); every other problem is still refused."""
    import pyarrow as pa

    root = Path(data_dir)
    folder = root / split
    state_file = folder / "state.json"
    try:
        state = json.loads(state_file.read_text(encoding="utf-8"))
        files = [folder / entry["filename"] for entry in state["_data_files"]]
    except OSError:
        return  # no such split: the callers' own checks name the splits there are
    except (json.JSONDecodeError, KeyError, TypeError):
        raise UserError(f"{state_file} is not a valid saved dataset state") from None
    if not files:
        # datasets writes no shard for an empty split unless asked to, and then cannot load it back.
        raise UserError(f"the {split} split of {root} has no clips (no data files in {folder}); rebuild the dataset")
    try:
        with pa.memory_map(str(files[0])) as source:
            schema = pa.ipc.open_stream(source).schema
    except (OSError, pa.ArrowInvalid) as exc:
        raise UserError(f"cannot read {files[0]} ({exc})") from None
    if AUDIO_COLUMN not in schema.names:
        if require_audio:
            raise UserError(f"the {split} split of {root} has no {AUDIO_COLUMN!r} column (float samples at {SAMPLING_RATE} Hz)")
        return
    _check_audio_type(schema.field(AUDIO_COLUMN).type, root, split)
    rate = recorded_sampling_rate(root, split)
    if rate is not None and rate != SAMPLING_RATE:
        raise UserError(
            f"{root} records audio at {rate} Hz, but Whisper's features are computed at {SAMPLING_RATE} Hz; "
            f"resample the audio to {SAMPLING_RATE} Hz and record that rate"
        )


def _check_audio_type(kind: Any, root: Path, split: str) -> None:
    import pyarrow as pa

    where = f"column {AUDIO_COLUMN!r} of the {split} split of {root}"
    fix = f"store each clip as a plain list of float32 samples at {SAMPLING_RATE} Hz"
    if pa.types.is_struct(kind):
        fields = ", ".join(kind.field(i).name for i in range(kind.num_fields))
        raise UserError(f"{where} is a struct ({fields}), e.g. datasets' Audio feature; {fix}")
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)) or not pa.types.is_floating(kind.value_type):
        raise UserError(f"{where} has type {kind}; {fix}")


def recorded_sampling_rate(root: Path, split: str) -> int | None:
    """The sampling rate the dataset records: its corpus_info.json, else an `Audio` feature's rate in the
    split's dataset_info.json; None when neither says (plain float arrays are taken to be 16 kHz)."""
    sources = (
        (root / INFO_FILE, ("sampling_rate",)),
        (root / split / "dataset_info.json", ("features", AUDIO_COLUMN, "sampling_rate")),
    )
    for path, keys in sources:
        try:
            value: Any = json.loads(path.read_text(encoding="utf-8"))
        except OSError:
            continue
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UserError(f"{path} is not readable JSON") from None
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise UserError(f"{path}: sampling_rate must be a positive integer (Hz), got {value!r}")
        return value
    return None
