"""What a Hugging Face Whisper tensor name says about its place in the model: stack, layer, module, kind.

Parses the names of `transformers.WhisperForConditionalGeneration.state_dict()`; pure string work, so the
parameter resolution and the merge rules can select tensors by meaning rather than by substring tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Stack = Literal["encoder", "decoder"]
Module = Literal["self_attn", "cross_attn", "ffn"]

STACKS: tuple[str, ...] = ("encoder", "decoder")
MODULES: tuple[str, ...] = ("self_attn", "cross_attn", "ffn")

# Kinds a Whisper tensor can have; selectors naming anything else are rejected as typos.
KINDS: tuple[str, ...] = (
    "q_proj",
    "k_proj",
    "v_proj",
    "out_proj",
    "fc1",
    "fc2",
    "self_attn_layer_norm",
    "encoder_attn_layer_norm",
    "final_layer_norm",
    "layer_norm",
    "conv1",
    "conv2",
    "embed_tokens",
    "embed_positions",
    "proj_out",
)

# `proj_out.weight` is the decoder token embedding under another name (tied weights): safetensors files
# written by transformers omit it, and `named_parameters()` lists it once. Merges treat only the target.
TIED_ALIASES: dict[str, str] = {"proj_out.weight": "model.decoder.embed_tokens.weight"}

_LAYER_RE = re.compile(
    r"model\.(?P<stack>encoder|decoder)\.layers\.(?P<layer>\d+)\.(?P<rest>.+)\.(?P<param>weight|bias)"
)
_STACK_RE = re.compile(r"model\.(?P<stack>encoder|decoder)\.(?P<rest>.+)\.(?P<param>weight|bias)")
_TOP_RE = re.compile(r"(?P<rest>.+)\.(?P<param>weight|bias)")

# Within a layer: the attention projections live under their block, the pre-norm of each block belongs
# to that block (Whisper is pre-LN: `final_layer_norm` is the norm in front of the feed-forward block).
_BLOCK_MODULES: dict[str, str] = {
    "self_attn": "self_attn",
    "encoder_attn": "cross_attn",
}
_LAYER_NORM_MODULES: dict[str, str] = {
    "self_attn_layer_norm": "self_attn",
    "encoder_attn_layer_norm": "cross_attn",
    "final_layer_norm": "ffn",
}


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """A tensor's name and what it means. Fields the name does not determine are None."""

    name: str
    stack: Stack | None
    layer: int | None
    module: Module | None
    kind: str | None
    param: Literal["weight", "bias"] | None
    shape: tuple[int, ...] = ()

    @property
    def numel(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count


def describe_tensor(name: str, shape: tuple[int, ...] | list[int] | None = None) -> TensorInfo:
    """Describe one HF Whisper tensor name; unknown names give a TensorInfo with None fields, never an error."""
    dims = tuple(int(size) for size in shape) if shape is not None else ()
    match = _LAYER_RE.fullmatch(name)
    if match:
        rest = match["rest"]
        head, _, kind = rest.rpartition(".")
        if head in _BLOCK_MODULES:
            module: str | None = _BLOCK_MODULES[head]
        elif not head and kind in ("fc1", "fc2"):
            module = "ffn"
        elif not head and kind in _LAYER_NORM_MODULES:
            module = _LAYER_NORM_MODULES[kind]
        else:
            module = None
        return TensorInfo(
            name=name,
            stack=match["stack"],  # type: ignore[arg-type]
            layer=int(match["layer"]),
            module=module,  # type: ignore[arg-type]
            kind=kind if kind in KINDS else None,
            param=match["param"],  # type: ignore[arg-type]
            shape=dims,
        )
    match = _STACK_RE.fullmatch(name)
    if match:
        kind = match["rest"]
        return TensorInfo(
            name=name,
            stack=match["stack"],  # type: ignore[arg-type]
            layer=None,
            module=None,
            kind=kind if kind in KINDS else None,
            param=match["param"],  # type: ignore[arg-type]
            shape=dims,
        )
    match = _TOP_RE.fullmatch(name)
    if match and match["rest"] in KINDS:
        return TensorInfo(name, None, None, None, match["rest"], match["param"], dims)  # type: ignore[arg-type]
    return TensorInfo(name, None, None, None, None, None, dims)


def describe_state(state: Mapping[str, Any]) -> dict[str, TensorInfo]:
    """Describe every tensor of a state dict (values are tensors or plain shapes), keeping its order."""
    out: dict[str, TensorInfo] = {}
    for name, value in state.items():
        shape = tuple(value.shape) if hasattr(value, "shape") else tuple(value)
        out[name] = describe_tensor(name, shape)
    return out
