"""Checkpoint I/O for Whisper merging: load a base and experts (local Hugging Face directories with
safetensors, Hub ids, openai-whisper `.pt` files), validate them together, save merged checkpoints.
"""

from lors_search.checkpoints.checkpoint import PROCESSOR_FILES, Checkpoint
from lors_search.checkpoints.loading import load_checkpoint
from lors_search.checkpoints.model_card import CardInfo, render_model_card
from lors_search.checkpoints.openai_pt import config_from_dims, hf_to_openai_name, openai_to_hf_name
from lors_search.checkpoints.saving import MERGE_CONFIG_FILE, save_merged
from lors_search.checkpoints.validation import ARCHITECTURE_KEYS, validate_compatible

__all__ = [
    "ARCHITECTURE_KEYS",
    "MERGE_CONFIG_FILE",
    "PROCESSOR_FILES",
    "CardInfo",
    "Checkpoint",
    "config_from_dims",
    "hf_to_openai_name",
    "load_checkpoint",
    "openai_to_hf_name",
    "render_model_card",
    "save_merged",
    "validate_compatible",
]
