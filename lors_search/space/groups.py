"""Layer groups: consecutive layers of one stack tied together, per module kind or shared by the whole
layer. A group is the unit the searched rank / density (and per-group scale) apply to; its id names its
parameters (`enc.g0.self_attn.rank_ratio`) and becomes one Selector(stack, layers, module) override.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lors_search.space.schema import SearchSpace
    from lors_search.space.shape import BaseShape

STACK_PREFIX = {"encoder": "enc", "decoder": "dec"}
STACK_MODULES = {"encoder": ("self_attn", "ffn"), "decoder": ("self_attn", "cross_attn", "ffn")}
_ATTN_PREFIX = {"self_attn": "self_attn", "cross_attn": "encoder_attn"}


@dataclass(frozen=True)
class Group:
    """Layers first..last (inclusive) of `stack`, modules `modules` (all of the stack's when shared)."""

    id: str
    stack: str
    first: int
    last: int
    modules: tuple[str, ...]
    shared: bool

    def matrices(self, shape: BaseShape) -> dict[str, tuple[int, int]]:
        """The low-rank/sparse-eligible matrices of the group (HF names, default merge rules) -> shape."""
        d_model, ffn = shape.d_model, shape.ffn_dim(self.stack)
        out: dict[str, tuple[int, int]] = {}
        for layer in range(self.first, self.last + 1):
            prefix = f"model.{self.stack}.layers.{layer}"
            for module in self.modules:
                if module == "ffn":
                    out[f"{prefix}.fc1.weight"] = (ffn, d_model)
                    out[f"{prefix}.fc2.weight"] = (d_model, ffn)
                else:
                    for proj in ("q", "k", "v", "out"):
                        out[f"{prefix}.{_ATTN_PREFIX[module]}.{proj}_proj.weight"] = (d_model, d_model)
        return out

    def full_rank(self, shape: BaseShape) -> int:
        """The rank that keeps every matrix of the group whole: its largest smaller side."""
        return max(min(dims) for dims in self.matrices(shape).values())


def build_groups(space: SearchSpace, shape: BaseShape) -> tuple[Group, ...]:
    """The groups of `space` on its base (of `shape`), encoder first, in layer order, modules in stack order."""
    groups: list[Group] = []
    for stack in ("encoder", "decoder"):
        layers = shape.layers(stack)
        size_setting = getattr(space.groups, stack).size
        size = layers if size_setting == "all" else int(size_setting)
        modules = STACK_MODULES[stack]
        for index, first in enumerate(range(0, layers, size)):
            last = min(layers, first + size) - 1
            gid = f"{STACK_PREFIX[stack]}.g{index}"
            if space.groups.modules == "shared":
                groups.append(Group(gid, stack, first, last, modules, True))
            else:
                groups.extend(Group(f"{gid}.{module}", stack, first, last, (module,), False) for module in modules)
    return tuple(groups)


def matching_groups(pattern: str, groups: tuple[Group, ...]) -> list[Group]:
    """Groups whose id matches `pattern` (exact id or fnmatch glob such as `dec.*` or `*.ffn`)."""
    return [group for group in groups if group.id == pattern or fnmatch.fnmatchcase(group.id, pattern)]
