"""Build merges from merge configs the way the search's workers did (same loaders, same expert preparation up
to the space's largest ranks, same PreparedMerger), so that an exported or reported merge has exactly the
weights the trial was scored with. Mirrors `lors-search merge` (lors_search/cli/merge.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence

import torch
from torch import Tensor

from lors_search.checkpoints import Checkpoint, load_checkpoint, validate_compatible
from lors_search.merge_config import ExpertSource
from lors_search.merging import (
    MergeParams,
    MergePlan,
    MergeRule,
    PreparedMerger,
    TensorInfo,
    describe_state,
    prepare_expert,
    resolve_plan,
)

Progress = Callable[[str], None]


def combined_max_ranks(*sources: Mapping[str, int]) -> dict[str, int]:
    """The per-tensor maximum of several max-rank mappings (`space.max_ranks()`, `plan.max_ranks()`)."""
    out: dict[str, int] = {}
    for mapping in sources:
        for name, rank in mapping.items():
            out[name] = max(out.get(name, 0), int(rank))
    return out


class MergeBuilder:
    """A base and its experts loaded once; `prepare(max_ranks)` computes the task vectors and SVD factors, then
    `merge(params)` / `merge_into(target, params)` build any number of merges of them."""

    def __init__(
        self,
        base: str,
        experts: Sequence[ExpertSource],
        rules: Sequence[MergeRule],
        *,
        device: torch.device | str = "cpu",
        progress: Progress | None = None,
    ) -> None:
        self.progress = progress or (lambda message: None)
        self.device = torch.device(device)
        self.rules = tuple(rules)
        self.expert_names = tuple(expert.name for expert in experts)
        self.progress(f"loading base {base}")
        self.base: Checkpoint = load_checkpoint(base)
        self._experts: list[tuple[str, Checkpoint]] = []
        for expert in experts:
            self.progress(f"loading expert {expert.name} from {expert.path}")
            self._experts.append((expert.name, load_checkpoint(expert.path)))
        validate_compatible(self.base, [checkpoint for _, checkpoint in self._experts], self.rules)
        self.infos: dict[str, TensorInfo] = describe_state(self.base.state_dict)
        self.merger: PreparedMerger | None = None

    @classmethod
    def from_config(cls, config, *, device: torch.device | str = "cpu", progress: Progress | None = None) -> MergeBuilder:
        return cls(config.base, config.experts, config.effective_rules(), device=device, progress=progress)

    def plan(self, params: MergeParams) -> MergePlan:
        return resolve_plan(params, self.infos, self.expert_names, self.rules)

    def prepare(self, max_ranks: int | Mapping[str, int]) -> None:
        """Task vectors and SVD factors of every expert up to `max_ranks` (once; the checkpoints are freed)."""
        base_state = {name: tensor.to(self.device) for name, tensor in self.base.state_dict.items()}
        prepared = []
        for name, checkpoint in self._experts:
            self.progress(f"preparing expert {name} (task vector and SVD factors)")
            prepared.append(prepare_expert(base_state, checkpoint.state_dict, self.rules, max_ranks, self.device, name=name))
            checkpoint.state_dict.clear()
        self._experts = []
        self.merger = PreparedMerger(base_state, prepared)

    def _ready(self) -> PreparedMerger:
        if self.merger is None:
            raise RuntimeError("call prepare(max_ranks) before merging")
        return self.merger

    def merge(self, params: MergeParams) -> dict[str, Tensor]:
        """New tensors holding the merge (the base's dtypes), as `lors-search merge` computes it."""
        return self._ready().merge(params.method, self.plan(params))

    def merge_into(self, target: MutableMapping[str, Tensor], params: MergeParams) -> None:
        """The merge written in place into a resident model's state dict (as the search's workers do)."""
        self._ready().merge_into(target, params.method, self.plan(params))

    def restore_base(self, target: MutableMapping[str, Tensor]) -> None:
        """Copy the base's weights back into a resident model's state dict."""
        merger = self._ready()
        with torch.no_grad():
            for name, tensor in merger.base.items():
                if name in target:
                    target[name].copy_(tensor)

