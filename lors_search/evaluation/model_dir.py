"""Load a local Hugging Face Whisper checkpoint directory (safetensors weights, generation config, tokenizer
files) for evaluation, with one-line errors for everything a user can get wrong."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperTokenizer

from lors_search.errors import UserError

TOKENIZER_FILES = ("tokenizer.json", "vocab.json")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


def resolve_device(name: str | None) -> torch.device:
    """`cuda` when available for None/"auto", else `cpu`; a requested CUDA device must exist."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}; expected cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"unsupported device {name!r}; expected cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for but no CUDA GPU is available")
    return device


def check_model_dir(model_dir: str | os.PathLike[str]) -> WhisperConfig:
    """The Whisper config of `model_dir` after checking, without reading weights, that the directory has what
    `load_model_dir` needs: config.json, safetensors weights, tokenizer files."""
    from lors_search.checkpoints.hf_dir import read_config

    directory = Path(model_dir).expanduser()
    if not directory.is_dir():
        raise UserError(f"model directory {directory} does not exist")
    config = read_config(directory)  # clear errors for a missing or non-Whisper config.json
    if not any((directory / name).is_file() for name in WEIGHT_FILES):
        raise UserError(f"{directory} has no {' or '.join(WEIGHT_FILES)} (weights are read from safetensors only)")
    if not any((directory / name).is_file() for name in TOKENIZER_FILES):
        raise UserError(
            f"{directory} has no tokenizer files ({' or '.join(TOKENIZER_FILES)}); save the processor beside the model"
        )
    return config


def load_model_dir(
    model_dir: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> tuple[WhisperForConditionalGeneration, WhisperTokenizer]:
    """The model (eval mode, on `device`) and tokenizer saved in `model_dir`."""
    check_model_dir(model_dir)
    directory = Path(model_dir).expanduser()
    try:
        model = WhisperForConditionalGeneration.from_pretrained(directory, use_safetensors=True)
        tokenizer = WhisperTokenizer.from_pretrained(directory)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot load the Whisper checkpoint in {directory}: {str(exc).splitlines()[0]}") from None
    return model.to(device).eval(), tokenizer
