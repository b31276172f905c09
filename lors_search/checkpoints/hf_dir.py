"""Load a Whisper checkpoint from a local Hugging Face directory: config.json plus safetensors weights
(one file or shards with an index), generation config and processor files. Never unpickles weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor
from transformers import WhisperConfig

from lors_search.checkpoints.checkpoint import PROCESSOR_FILES, Checkpoint
from lors_search.errors import UserError
from lors_search.merging.tensor_names import TIED_ALIASES

SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
_PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "model.pt", "tf_model.h5")


def read_config(directory: Path) -> WhisperConfig:
    """The WhisperConfig of `directory`; UserError when missing, unreadable or not Whisper."""
    path = directory / "config.json"
    if not path.is_file():
        raise UserError(f"{directory} has no config.json; is it a Hugging Face model directory?")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not readable JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.get("model_type") != "whisper":
        kind = raw.get("model_type") if isinstance(raw, dict) else None
        raise UserError(f"{path} describes a {kind!r} model, not a Whisper model")
    try:
        return WhisperConfig.from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{path} is not a valid Whisper config: {exc}") from None


def _weight_files(directory: Path) -> list[Path]:
    single = directory / SAFETENSORS_FILE
    index = directory / SAFETENSORS_INDEX
    if single.is_file():
        return [single]
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            names = sorted(set(weight_map.values()))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise UserError(f"{index} is not a valid safetensors index: {exc}") from None
        files = [directory / name for name in names]
        for file in files:
            if not file.is_file():
                raise UserError(f"{index} names shard {file.name}, which is missing")
        return files
    for name in _PICKLE_WEIGHTS:
        if (directory / name).exists():
            raise UserError(
                f"{directory} holds weights only as {name}; lors-search reads safetensors only "
                "(re-save the model with save_pretrained(..., safe_serialization=True))"
            )
    raise UserError(f"{directory} has no {SAFETENSORS_FILE} or {SAFETENSORS_INDEX}")


def read_safetensors(files: list[Path]) -> dict[str, Tensor]:
    """All tensors of the given safetensors files (on CPU); UserError for corrupt files or duplicates."""
    state: dict[str, Tensor] = {}
    for file in files:
        try:
            part = load_file(file, device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise UserError(f"{file} is not a readable safetensors file: {exc}") from None
        for name, tensor in part.items():
            if name in state:
                raise UserError(f"tensor {name!r} appears in more than one shard ({file.name})")
            state[name] = tensor
    return state


def canonical_names(state: dict[str, Tensor], config: WhisperConfig) -> dict[str, Tensor]:
    """HF names of `WhisperForConditionalGeneration`, without the tied output projection.

    Accepts `WhisperModel` files (names without the `model.` prefix).
    """
    if state and not any(name.startswith("model.") for name in state):
        state = {f"model.{name}": tensor for name, tensor in state.items()}
    if getattr(config, "tie_word_embeddings", True):
        for alias in TIED_ALIASES:
            state.pop(alias, None)
    return state


def read_generation_config(directory: Path) -> dict[str, Any] | None:
    path = directory / "generation_config.json"
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} is not readable JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise UserError(f"{path} does not hold a JSON object")
    return raw


def load_hf_directory(directory: Path, source: str | None = None) -> Checkpoint:
    """Load config, weights (safetensors only), generation config and processor files of `directory`."""
    config = read_config(directory)
    state = canonical_names(read_safetensors(_weight_files(directory)), config)
    if not state:
        raise UserError(f"{directory} holds no tensors")
    processor_files = tuple(directory / name for name in PROCESSOR_FILES if (directory / name).is_file())
    return Checkpoint(
        source=source or str(directory),
        format="hf",
        config=config,
        state_dict=state,
        source_dir=directory,
        generation_config=read_generation_config(directory),
        processor_files=processor_files,
    )

