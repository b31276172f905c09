"""Cheap pre-flight checks of a base and its experts from their files' headers only (config.json and the
safetensors JSON header: tensor names, shapes, dtypes), so a search refuses them before any Ray actor starts.

The full checks (`validation.validate_compatible`) need every tensor in memory; these read a few kilobytes
per checkpoint and catch what would otherwise surface as a worker's traceback half a minute into a search.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError, safe_open

from lors_search.checkpoints.hf_dir import (
    _PICKLE_WEIGHTS,
    SAFETENSORS_FILE,
    SAFETENSORS_INDEX,
    _weight_files,
    read_config,
)
from lors_search.checkpoints.validation import ARCHITECTURE_KEYS
from lors_search.errors import UserError
from lors_search.merging.tensor_names import TIED_ALIASES

# safetensors dtype names of floating tensors (what a merge can take a difference of).
_FLOATING = {"F16", "BF16", "F32", "F64", "F8_E4M3", "F8_E5M2"}


@dataclass(frozen=True)
class Header:
    """What one checkpoint declares: its architecture config and each tensor's (shape, safetensors dtype)
    under HF `WhisperForConditionalGeneration` names. `tensors` is None for a directory holding only a
    config.json (a template: its weights cannot be checked before they are loaded)."""

    label: str
    config: dict[str, object]
    tensors: dict[str, tuple[tuple[int, ...], str]] | None


def read_header(source: str | os.PathLike[str], label: str) -> Header | None:
    """The header of a local checkpoint; None for what has no cheap header (Hub ids, openai `.pt` files)."""
    path = Path(source).expanduser()
    if not path.is_dir():
        return None
    config = read_config(path)
    if not any((path / name).exists() for name in (SAFETENSORS_FILE, SAFETENSORS_INDEX, *_PICKLE_WEIGHTS)):
        return Header(label, config.to_dict(), None)
    tensors: dict[str, tuple[tuple[int, ...], str]] = {}
    for file in _weight_files(path):  # refuses pickled weights and missing shards with one line
        try:
            with safe_open(str(file), framework="pt") as handle:
                for name in handle.keys():  # safe_open is not a mapping
                    part = handle.get_slice(name)
                    if name in tensors:
                        raise UserError(f"{label}: tensor {name!r} appears in more than one shard ({file.name})")
                    tensors[name] = (tuple(part.get_shape()), str(part.get_dtype()))
        except (SafetensorError, OSError, ValueError) as exc:
            raise UserError(f"{label}: {file} is not a readable safetensors file: {exc}") from None
    # The names loading gives them (hf_dir.canonical_names): `model.` prefix, tied output projection dropped.
    if tensors and not any(name.startswith("model.") for name in tensors):
        tensors = {f"model.{name}": spec for name, spec in tensors.items()}
    if getattr(config, "tie_word_embeddings", True):
        for alias in TIED_ALIASES:
            tensors.pop(alias, None)
    return Header(label, config.to_dict(), tensors)


def expected_tensors(config: dict[str, object]) -> dict[str, tuple[int, ...]]:
    """Every tensor name and shape a Whisper of this config has, from a model built on the meta device
    (no memory, no weights)."""
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    whisper = WhisperConfig.from_dict(dict(config))
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(whisper)
    shapes = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    if getattr(whisper, "tie_word_embeddings", True):
        for alias in TIED_ALIASES:
            shapes.pop(alias, None)
    return shapes


def check_headers(base: tuple[str, str | os.PathLike[str]], experts: Sequence[tuple[str, str | os.PathLike[str]]]) -> None:
    """UserError naming the checkpoint (its label, e.g. the space field `experts.1.path`) and the tensor or
    config key on the first problem: an architecture key differing from the base's, a tensor missing, extra,
    of another shape than the base's (or than the base's config implies), or not floating.

    `base` and `experts` are (label, source) pairs; sources without a cheap header are skipped here and
    checked in full when they are loaded."""
    reference = read_header(base[1], base[0])
    if reference is not None and reference.tensors is not None:
        expected = expected_tensors(reference.config)
        _compare(reference, expected, "the model its config.json describes")
    for label, source in experts:
        header = read_header(source, label)
        if header is None or reference is None:
            continue
        for key in ARCHITECTURE_KEYS:
            if header.config.get(key) != reference.config.get(key):
                raise UserError(
                    f"{label}: architecture differs from the base: {key} is {header.config.get(key)!r} in its "
                    f"config.json, the base has {reference.config.get(key)!r}; use experts fine-tuned from this base"
                )
        if header.tensors is not None and reference.tensors is not None:
            _compare(header, {name: spec[0] for name, spec in reference.tensors.items()}, "the base")


def _compare(header: Header, expected: dict[str, tuple[int, ...]], what: str) -> None:
    assert header.tensors is not None
    label = header.label
    missing = [name for name in expected if name not in header.tensors]
    if missing:
        raise UserError(f"{label}: lacks tensor {missing[0]!r} that {what} has ({len(missing)} missing)")
    extra = [name for name in header.tensors if name not in expected]
    if extra:
        raise UserError(f"{label}: has tensor {extra[0]!r} that {what} lacks ({len(extra)} extra)")
    for name, (shape, dtype) in header.tensors.items():
        if shape != expected[name]:
            raise UserError(
                f"{label}: tensor {name!r} has shape {shape}, {what} has {expected[name]}; "
                "every expert must be fine-tuned from the base without changing its architecture"
            )
        if dtype not in _FLOATING:
            raise UserError(f"{label}: tensor {name!r} has dtype {dtype}; only floating tensors can be merged")
