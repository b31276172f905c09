"""Load openai-whisper `.pt` checkpoints: `{"dims": ..., "model_state_dict": ...}` read with
`torch.load(weights_only=True)`, tensor names mapped to Hugging Face Whisper names, dims to a WhisperConfig.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from transformers import WhisperConfig

from lors_search.checkpoints.checkpoint import Checkpoint
from lors_search.errors import UserError

# Inside a residual block: openai-whisper name -> HF name.
_BLOCK_PARTS: dict[str, str] = {
    "attn.query": "self_attn.q_proj",
    "attn.key": "self_attn.k_proj",
    "attn.value": "self_attn.v_proj",
    "attn.out": "self_attn.out_proj",
    "attn_ln": "self_attn_layer_norm",
    "cross_attn.query": "encoder_attn.q_proj",
    "cross_attn.key": "encoder_attn.k_proj",
    "cross_attn.value": "encoder_attn.v_proj",
    "cross_attn.out": "encoder_attn.out_proj",
    "cross_attn_ln": "encoder_attn_layer_norm",
    "mlp.0": "fc1",
    "mlp.2": "fc2",
    "mlp_ln": "final_layer_norm",
}
# Outside the blocks.
_TOP_PARTS: dict[str, str] = {
    "encoder.conv1.weight": "model.encoder.conv1.weight",
    "encoder.conv1.bias": "model.encoder.conv1.bias",
    "encoder.conv2.weight": "model.encoder.conv2.weight",
    "encoder.conv2.bias": "model.encoder.conv2.bias",
    "encoder.positional_embedding": "model.encoder.embed_positions.weight",
    "encoder.ln_post.weight": "model.encoder.layer_norm.weight",
    "encoder.ln_post.bias": "model.encoder.layer_norm.bias",
    "decoder.token_embedding.weight": "model.decoder.embed_tokens.weight",
    "decoder.positional_embedding": "model.decoder.embed_positions.weight",
    "decoder.ln.weight": "model.decoder.layer_norm.weight",
    "decoder.ln.bias": "model.decoder.layer_norm.bias",
}
_BLOCK_RE = re.compile(r"(?P<stack>encoder|decoder)\.blocks\.(?P<layer>\d+)\.(?P<part>.+)\.(?P<param>weight|bias)")
_HF_BLOCK_RE = re.compile(r"model\.(?P<stack>encoder|decoder)\.layers\.(?P<layer>\d+)\.(?P<part>.+)\.(?P<param>weight|bias)")
_UNSUPPORTED = re.compile(r"unsupported (?:GLOBAL [\w.]+|operand \d+)", re.IGNORECASE)
_DIMS = ("n_mels", "n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
         "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer")


def openai_to_hf_name(name: str) -> str | None:
    """The HF name of an openai-whisper tensor name, or None when it has no counterpart."""
    if name in _TOP_PARTS:
        return _TOP_PARTS[name]
    match = _BLOCK_RE.fullmatch(name)
    if match and match["part"] in _BLOCK_PARTS:
        return f"model.{match['stack']}.layers.{match['layer']}.{_BLOCK_PARTS[match['part']]}.{match['param']}"
    return None


def hf_to_openai_name(name: str) -> str | None:
    """The inverse of `openai_to_hf_name` (for writing openai-format files, e.g. in tests)."""
    for theirs, ours in _TOP_PARTS.items():
        if ours == name:
            return theirs
    match = _HF_BLOCK_RE.fullmatch(name)
    if match:
        for theirs, ours in _BLOCK_PARTS.items():
            if ours == match["part"]:
                return f"{match['stack']}.blocks.{match['layer']}.{theirs}.{match['param']}"
    return None


def config_from_dims(dims: Mapping[str, Any], ffn_dim: int | None = None) -> WhisperConfig:
    """A WhisperConfig equivalent to openai-whisper's ModelDimensions.

    openai-whisper's MLP is 4 * width wide; `ffn_dim`, when the weights say otherwise, takes precedence.
    """
    missing = [key for key in _DIMS if not isinstance(dims.get(key), int)]
    if missing:
        raise UserError(f"openai-whisper dims lack integer field(s) {', '.join(missing)}")
    if dims["n_audio_state"] != dims["n_text_state"]:
        raise UserError("openai-whisper dims have different audio and text widths; HF Whisper needs one d_model")
    vocab = int(dims["n_vocab"])
    # Whisper's special tokens follow the text vocabulary: the multilingual one (>= 51865 tokens) has
    # <|endoftext|> at 50257 and <|startoftranscript|> at 50258, the English-only one each one lower.
    end = 50257 if vocab >= 51865 else 50256
    if end + 1 >= vocab:  # toy vocabularies: keep the ids inside the embedding
        end = vocab - 2
    width = int(dims["n_audio_state"])
    return WhisperConfig(
        vocab_size=vocab,
        num_mel_bins=dims["n_mels"],
        d_model=width,
        encoder_layers=dims["n_audio_layer"],
        encoder_attention_heads=dims["n_audio_head"],
        decoder_layers=dims["n_text_layer"],
        decoder_attention_heads=dims["n_text_head"],
        encoder_ffn_dim=ffn_dim or 4 * width,
        decoder_ffn_dim=ffn_dim or 4 * width,
        max_source_positions=dims["n_audio_ctx"],
        max_target_positions=dims["n_text_ctx"],
        bos_token_id=end,
        eos_token_id=end,
        pad_token_id=end,
        decoder_start_token_id=end + 1,
    )


def _load_failure(exc: BaseException) -> str:
    """Why torch.load refused a file, in one line, without torch's advice to retry with weights_only=False:
    that would run whatever code the file's pickle holds, which lors-search never does."""
    text = str(exc)
    if isinstance(exc, pickle.UnpicklingError) or "Weights only load failed" in text:
        found = _UNSUPPORTED.search(text)
        what = f" ({found.group(0).lower()})" if found else ""
        return (
            f"the safe unpickler refused it{what}: it is not a file of plain tensors, numbers and containers "
            "(lors-search never unpickles other objects); re-save the weights as plain tensors, or as a "
            "Hugging Face safetensors directory"
        )
    lines = text.strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def load_openai_checkpoint(path: Path) -> Checkpoint:
    """Read an openai-whisper `.pt` file safely (`weights_only=True`) and map it to HF names."""
    try:
        # torch warns (several lines on stderr) about pickle protocols of files it is about to refuse anyway.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError) as exc:
        raise UserError(f"{path} is not a readable openai-whisper checkpoint: {_load_failure(exc)}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("dims"), dict) or not isinstance(
        raw.get("model_state_dict"), dict
    ):
        raise UserError(f"{path} is not an openai-whisper checkpoint (expected keys 'dims' and 'model_state_dict')")
    state: dict[str, Tensor] = {}
    for name, tensor in raw["model_state_dict"].items():
        ours = openai_to_hf_name(name)
        if ours is None:
            raise UserError(f"{path}: tensor {name!r} has no Hugging Face Whisper counterpart")
        if not isinstance(tensor, Tensor):
            raise UserError(f"{path}: entry {name!r} is not a tensor")
        state[ours] = tensor
    first_fc1 = state.get("model.encoder.layers.0.fc1.weight")
    config = config_from_dims(raw["dims"], ffn_dim=int(first_fc1.shape[0]) if first_fc1 is not None else None)
    return Checkpoint(source=str(path), format="openai", config=config, state_dict=state)
