"""Builders for the search-space tests: Whisper model directories (config-only ones, enough for validating a
space, and one real tiny checkpoint for plan resolution), a tiny corpus directory (a DatasetDict of id,
language, transcript, translation per split; no audio is needed to validate a space) and YAML writers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from transformers import WhisperConfig

LANGUAGES = ("de", "es", "fr")
DEV_CLIPS = 6  # per language


def whisper_config(d_model: int = 32, layers: int = 2, ffn: int = 64) -> WhisperConfig:
    return WhisperConfig(
        vocab_size=40,
        num_mel_bins=8,
        d_model=d_model,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=ffn,
        decoder_ffn_dim=ffn,
        max_source_positions=16,
        max_target_positions=16,
        decoder_start_token_id=28,
        pad_token_id=27,
        bos_token_id=27,
        eos_token_id=27,
    )


def config_dir(directory: Path, config: WhisperConfig) -> Path:
    """A model directory holding only config.json: all a space reads from a checkpoint."""
    directory.mkdir(parents=True, exist_ok=True)
    config.to_json_file(str(directory / "config.json"))
    return directory


def real_checkpoint(directory: Path, config: WhisperConfig, seed: int = 0) -> Path:
    import torch
    from transformers import WhisperForConditionalGeneration

    torch.manual_seed(seed)
    WhisperForConditionalGeneration(config).save_pretrained(directory)
    return directory


def corpus_dir(directory: Path, languages: tuple[str, ...] = LANGUAGES, dev_clips: int = DEV_CLIPS) -> Path:
    import datasets

    splits = {}
    for split, count in (("train", 3), ("dev", dev_clips), ("test", 2)):
        rows = [(f"{split}-{lang}-{i}", lang) for lang in languages for i in range(count)]
        splits[split] = datasets.Dataset.from_dict(
            {
                "id": [row[0] for row in rows],
                "language": [row[1] for row in rows],
                "transcript": ["eins"] * len(rows),
                "translation": ["one"] * len(rows),
            }
        )
    datasets.DatasetDict(splits).save_to_disk(str(directory))
    return directory


def space_dict(root: Path, **changes: Any) -> dict[str, Any]:
    """A valid space over the fixture tree at `root` (relative paths), with top-level keys replaced."""
    raw: dict[str, Any] = {
        "base": "models/base",
        "experts": [{"name": lang, "path": f"models/{lang}", "language": lang} for lang in LANGUAGES],
        "data": {"path": "data", "split": "dev"},
        "fidelity": {"n_per_language": [2, None]},
    }
    raw.update(changes)
    return raw


def write_space(root: Path, raw: dict[str, Any], name: str = "space.yaml") -> Path:
    path = root / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path
