"""Fetch a Whisper checkpoint from the Hugging Face Hub by repository id (`openai/whisper-small`) into the
local HF cache, safetensors and JSON/text files only, then load it as a local directory.
"""

from __future__ import annotations

import re
from pathlib import Path

from lors_search.checkpoints.checkpoint import Checkpoint
from lors_search.checkpoints.hf_dir import load_hf_directory
from lors_search.errors import UserError

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
# Weights only as safetensors: pickled *.bin files are never downloaded.
_ALLOW = ["*.json", "*.safetensors", "*.txt", "*.md"]


def looks_like_hub_id(source: str) -> bool:
    """`owner/name` that is not a path on this machine."""
    return bool(_HUB_ID.fullmatch(source)) and not Path(source).exists()


def load_hub(repo_id: str, revision: str | None = None) -> Checkpoint:
    """Download (or reuse from the cache) `repo_id` and load it; UserError when the Hub cannot serve it."""
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError
    except ImportError as exc:  # pragma: no cover - huggingface_hub is a pinned dependency
        raise UserError(f"huggingface_hub is not installed: {exc}") from None
    try:
        directory = snapshot_download(repo_id, revision=revision, allow_patterns=_ALLOW)
    except (HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"{repo_id!r} is not a local path and could not be fetched from the Hugging Face Hub ({reason})"
        ) from None
    return load_hf_directory(Path(directory), source=repo_id)
