"""Checks that a base and its experts can be merged, before any maths: one architecture, the same
tensor names and shapes, floating and finite values, and every tensor covered by exactly one merge rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from lors_search.checkpoints.checkpoint import Checkpoint
from lors_search.errors import UserError
from lors_search.merging.rules import DEFAULT_RULES, MergeRule, assign_treatments

# Config fields that fix the architecture (and hence every tensor's meaning); the rest (dropout,
# generation defaults, names) may differ between a base and its fine-tuned experts.
ARCHITECTURE_KEYS: tuple[str, ...] = (
    "model_type",
    "vocab_size",
    "num_mel_bins",
    "d_model",
    "encoder_layers",
    "decoder_layers",
    "encoder_attention_heads",
    "decoder_attention_heads",
    "encoder_ffn_dim",
    "decoder_ffn_dim",
    "max_source_positions",
    "max_target_positions",
    "activation_function",
    "scale_embedding",
    "tie_word_embeddings",
)


def check_finite(checkpoint: Checkpoint, label: str) -> None:
    """UserError naming the first tensor holding NaN or infinity, or a non-floating tensor."""
    for name, tensor in checkpoint.state_dict.items():
        if not tensor.is_floating_point():
            raise UserError(f"{label} tensor {name!r} has dtype {tensor.dtype}; only floating tensors can be merged")
        if not bool(torch.isfinite(tensor).all()):
            raise UserError(f"{label} tensor {name!r} holds NaN or infinite values")


def validate_compatible(
    base: Checkpoint, experts: Sequence[Checkpoint], rules: Sequence[MergeRule] = DEFAULT_RULES
) -> dict[str, str]:
    """Raise UserError on the first incompatibility; return each tensor's treatment under `rules`."""
    if not experts:
        raise UserError("a merge needs at least one expert")
    treatments = assign_treatments(base.state_dict, rules)
    for name, treatment in treatments.items():
        if treatment == "lowrank_sparse" and base.state_dict[name].ndim != 2:
            raise UserError(
                f"tensor {name!r} has shape {tuple(base.state_dict[name].shape)}; the lowrank_sparse treatment "
                "needs a 2-D matrix"
            )
    check_finite(base, f"base {base.source}:")
    base_config = base.config.to_dict()
    for expert in experts:
        label = f"expert {expert.source}:"
        config = expert.config.to_dict()
        for key in ARCHITECTURE_KEYS:
            if config.get(key) != base_config.get(key):
                raise UserError(
                    f"{label} architecture differs from the base: {key} is {config.get(key)!r}, "
                    f"the base has {base_config.get(key)!r}"
                )
        missing = [name for name in base.state_dict if name not in expert.state_dict]
        if missing:
            raise UserError(f"{label} lacks tensor {missing[0]!r} that the base has ({len(missing)} missing)")
        extra = [name for name in expert.state_dict if name not in base.state_dict]
        if extra:
            raise UserError(f"{label} has tensor {extra[0]!r} that the base lacks ({len(extra)} extra)")
        for name, tensor in base.state_dict.items():
            theirs = expert.state_dict[name]
            if theirs.shape != tensor.shape:
                raise UserError(
                    f"{label} tensor {name!r} has shape {tuple(theirs.shape)}, the base has {tuple(tensor.shape)}"
                )
        check_finite(expert, label)
    return treatments
