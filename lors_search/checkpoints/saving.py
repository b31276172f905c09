"""Write a merged model as an ordinary Hugging Face Whisper checkpoint: safetensors weights, config,
generation config (language/task ids intact), the base's processor and tokenizer files, the merge
config and a model card, all through a temporary directory renamed at the end.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from safetensors.torch import save_file
from torch import Tensor
from transformers import GenerationConfig

from lors_search.checkpoints.checkpoint import Checkpoint
from lors_search.checkpoints.model_card import CardInfo, render_model_card
from lors_search.fsutil import atomic_output_dir, make_user_readable
from lors_search.merging.tensor_names import TIED_ALIASES

MERGE_CONFIG_FILE = "merge_config.yaml"


def generation_config_json(base: Checkpoint) -> dict[str, Any]:
    """The base's generation config, or one derived from its model config, marked as hand-set.

    transformers 5 rebuilds a generation config flagged `_from_model_config` from the model config on
    load, dropping `lang_to_id`/`task_to_id`; clearing the flag keeps them.
    """
    if base.generation_config is not None:
        raw = dict(base.generation_config)
    else:
        raw = GenerationConfig.from_model_config(base.config).to_dict()
    raw["_from_model_config"] = False
    return raw


def save_merged(
    out_dir: str | os.PathLike[str],
    base: Checkpoint,
    state_dict: Mapping[str, Tensor],
    merge_config: BaseModel | Mapping[str, Any] | None,
    card_info: CardInfo | None,
    *,
    force: bool = False,
) -> Path:
    """Write the merged checkpoint to `out_dir` (refused if it exists, unless `force`); return its path."""
    tensors = {
        name: tensor.detach().to("cpu").contiguous()
        for name, tensor in state_dict.items()
        if not (name in TIED_ALIASES and getattr(base.config, "tie_word_embeddings", True))
    }
    # Tensors may share storage (views); safetensors refuses that, so give each its own.
    seen: set[int] = set()
    for name, tensor in tensors.items():
        pointer = tensor.untyped_storage().data_ptr()
        if pointer in seen:
            tensors[name] = tensor.clone()
        seen.add(pointer)
    dtypes = {tensor.dtype for tensor in tensors.values() if tensor.is_floating_point()}
    with atomic_output_dir(out_dir, force=force) as tmp:
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        # safetensors creates the file 0600 whatever the umask; a saved model is an ordinary result.
        make_user_readable(tmp / "model.safetensors")
        config = base.config.__class__.from_dict(base.config.to_dict())
        if len(dtypes) == 1:
            config.dtype = next(iter(dtypes))
        config.save_pretrained(tmp)
        (tmp / "generation_config.json").write_text(
            json.dumps(generation_config_json(base), indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        for file in base.processor_files:
            shutil.copy2(file, tmp / file.name)
        if merge_config is not None:
            data = (merge_config.model_dump(mode="json", exclude_none=True) if isinstance(merge_config, BaseModel)
                    else dict(merge_config))
            (tmp / MERGE_CONFIG_FILE).write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        if card_info is not None:
            (tmp / "README.md").write_text(render_model_card(card_info), encoding="utf-8")
    return Path(out_dir).resolve()

