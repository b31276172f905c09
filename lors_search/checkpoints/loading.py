"""One entry point for reading a Whisper checkpoint from wherever it lives: a local Hugging Face
directory, an openai-whisper `.pt` file, or a Hugging Face Hub repository id.
"""

from __future__ import annotations

import os
from pathlib import Path

from lors_search.checkpoints.checkpoint import Checkpoint
from lors_search.checkpoints.hf_dir import load_hf_directory
from lors_search.checkpoints.hub import load_hub, looks_like_hub_id
from lors_search.checkpoints.openai_pt import load_openai_checkpoint
from lors_search.errors import UserError


def load_checkpoint(source: str | os.PathLike[str]) -> Checkpoint:
    """Load `source`: a directory (HF, safetensors), a `.pt` file (openai-whisper) or `owner/name` (Hub)."""
    text = os.fspath(source)
    path = Path(text).expanduser()
    if path.is_dir():
        return load_hf_directory(path.resolve(), source=text)
    if path.is_file():
        if path.suffix in (".pt", ".pth"):
            return load_openai_checkpoint(path.resolve())
        raise UserError(
            f"{text} is a file; give a Hugging Face model directory or an openai-whisper .pt checkpoint"
        )
    if looks_like_hub_id(text):
        return load_hub(text)
    raise UserError(f"{text} does not exist (neither a local directory or .pt file, nor a Hub id like owner/name)")
