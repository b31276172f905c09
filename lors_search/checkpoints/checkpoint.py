"""A loaded Whisper checkpoint: its config, its tensors under Hugging Face names, and where it came from.

The common currency of checkpoint I/O: HF directories, hub snapshots and openai-whisper `.pt` files all
load into it; validation and saving read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor
from transformers import WhisperConfig

# Processor and tokenizer files a Whisper directory may carry; copied to merged checkpoints unchanged.
PROCESSOR_FILES: tuple[str, ...] = (
    "preprocessor_config.json",
    "processor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "merges.txt",
    "normalizer.json",
    "added_tokens.json",
    "special_tokens_map.json",
)


@dataclass
class Checkpoint:
    """One Whisper model in memory.

    state_dict: every tensor under HF `WhisperForConditionalGeneration` names, the tied alias
    `proj_out.weight` left out when the config ties it to the token embedding.
    generation_config: the raw `generation_config.json` contents when the source has one.
    processor_files: processor/tokenizer files found beside the weights.
    """

    source: str
    format: Literal["hf", "openai"]
    config: WhisperConfig
    state_dict: dict[str, Tensor]
    source_dir: Path | None = None
    generation_config: dict[str, Any] | None = None
    processor_files: tuple[Path, ...] = field(default_factory=tuple)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype most of the floating tensors have (what a merged checkpoint is saved in)."""
        counts: dict[torch.dtype, int] = {}
        for tensor in self.state_dict.values():
            if tensor.is_floating_point():
                counts[tensor.dtype] = counts.get(tensor.dtype, 0) + tensor.numel()
        return max(counts, key=lambda dtype: counts[dtype]) if counts else torch.float32
