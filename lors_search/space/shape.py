"""The base model's shape (width, depth, feed-forward width), read cheaply: `config.json` of a Hugging Face
directory, the tensor shapes of an openai-whisper `.pt` (memory-mapped), or a table of the public OpenAI
Whisper checkpoints for Hub ids. The search space needs it for rank bounds, parameter groups and max ranks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lors_search.errors import UserError


@dataclass(frozen=True)
class BaseShape:
    """What the space needs to know about the base: layer counts and matrix widths."""

    d_model: int
    encoder_layers: int
    decoder_layers: int
    encoder_ffn_dim: int
    decoder_ffn_dim: int

    def layers(self, stack: str) -> int:
        return self.encoder_layers if stack == "encoder" else self.decoder_layers

    def ffn_dim(self, stack: str) -> int:
        return self.encoder_ffn_dim if stack == "encoder" else self.decoder_ffn_dim


# Public OpenAI Whisper checkpoints (config.json of openai/whisper-*): d_model, enc layers, dec layers, ffn.
_OPENAI = {
    "tiny": (384, 4, 4, 1536),
    "base": (512, 6, 6, 2048),
    "small": (768, 12, 12, 3072),
    "medium": (1024, 24, 24, 4096),
    "large": (1280, 32, 32, 5120),
    "large-v2": (1280, 32, 32, 5120),
    "large-v3": (1280, 32, 32, 5120),
    "large-v3-turbo": (1280, 32, 4, 5120),
}


def known_hub_shape(repo_id: str) -> BaseShape | None:
    """Shape of a public `openai/whisper-<size>[.en]` checkpoint without any download."""
    owner, _, name = repo_id.partition("/")
    if owner != "openai" or not name.startswith("whisper-"):
        return None
    size = name.removeprefix("whisper-").removesuffix(".en")
    dims = _OPENAI.get(size)
    if dims is None:
        return None
    d_model, enc, dec, ffn = dims
    return BaseShape(d_model, enc, dec, ffn, ffn)


def shape_from_config(config: dict, where: str) -> BaseShape:
    try:
        d_model = int(config["d_model"])
        return BaseShape(
            d_model=d_model,
            encoder_layers=int(config["encoder_layers"]),
            decoder_layers=int(config["decoder_layers"]),
            encoder_ffn_dim=int(config.get("encoder_ffn_dim", 4 * d_model)),
            decoder_ffn_dim=int(config.get("decoder_ffn_dim", 4 * d_model)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{where} is not a Whisper config (missing or bad {exc})") from None


def read_base_shape(source: str) -> BaseShape:
    """Shape of the base at `source` (a directory, a `.pt` file or a Hub id); UserError when unreadable."""
    path = Path(source)
    if path.is_dir():
        config_file = path / "config.json"
        try:
            config = json.loads(config_file.read_text(encoding="utf-8"))
        except OSError:
            raise UserError(f"{path} has no config.json (not a Hugging Face Whisper directory)") from None
        except json.JSONDecodeError as exc:
            raise UserError(f"{config_file} is not valid JSON ({exc})") from None
        return shape_from_config(config, str(config_file))
    if path.is_file():
        return _openai_pt_shape(path)
    shape = known_hub_shape(source)
    if shape is not None:
        return shape
    cached = _cached_hub_config(source)
    if cached is not None:
        return shape_from_config(json.loads(Path(cached).read_text(encoding="utf-8")), cached)
    raise UserError(
        f"cannot read the config of {source!r} offline (not a local path, not in the Hugging Face cache); "
        "download it first or give a local directory"
    )


def _cached_hub_config(repo_id: str) -> str | None:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - pinned dependency
        return None
    found = try_to_load_from_cache(repo_id, "config.json")
    return found if isinstance(found, str) else None


def _openai_pt_shape(path: Path) -> BaseShape:
    import torch

    try:
        raw = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError(f"cannot read {path} as an openai-whisper checkpoint ({type(exc).__name__})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("dims"), dict):
        raise UserError(f"{path} is not an openai-whisper checkpoint (expected keys 'dims' and 'model_state_dict')")
    dims = raw["dims"]
    state = raw.get("model_state_dict") or {}
    width = int(dims.get("n_audio_state", 0))
    enc_fc = state.get("encoder.blocks.0.mlp.0.weight")
    dec_fc = state.get("decoder.blocks.0.mlp.0.weight")
    return BaseShape(
        d_model=width,
        encoder_layers=int(dims.get("n_audio_layer", 0)),
        decoder_layers=int(dims.get("n_text_layer", 0)),
        encoder_ffn_dim=int(enc_fc.shape[0]) if enc_fc is not None else 4 * width,
        decoder_ffn_dim=int(dec_fc.shape[0]) if dec_fc is not None else 4 * width,
    )
