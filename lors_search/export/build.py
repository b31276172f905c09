"""Build merges from merge configs the way the search's workers did (same loaders, same expert preparation up
to the space's largest ranks, same PreparedMerger), so that an exported or reported merge has exactly the
weights the trial was scored with. Mirrors `lors-search merge` (lors_search/cli/merge.py). A method that needs
the experts' Gram matrices (RegMean, arXiv 2212.09849) gets them from the space's dataset, as the search's expert
actors did (`space_gram_sources`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from lors_search.checkpoints import Checkpoint, load_checkpoint, validate_compatible
from lors_search.errors import UserError
from lors_search.merge_config import ExpertSource, MergeConfig, gram_sources
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

if TYPE_CHECKING:
    from lors_search.whisper.gram import GramSource

Progress = Callable[[str], None]


def space_gram_sources(config: MergeConfig, space: Any) -> tuple[MergeConfig, dict[str, GramSource]]:
    """For a trial's merge config whose method needs Grams: the config completed with what the search used
    (the space's data as `gram_data`, each expert's language from the space) and each expert's Gram source
    (train split, "expert" subset where tagged, the <data>/grams cache the expert actors filled), so that the
    export has the trial's weights and its saved merge config reproduces them. Other methods: unchanged, {}."""
    if not config.needs_grams:
        return config, {}
    languages = {expert.name: getattr(expert, "language", None) for expert in space.experts}
    experts = tuple(
        expert if expert.language is not None else expert.model_copy(update={"language": languages.get(expert.name)})
        for expert in config.experts
    )
    update: dict[str, Any] = {"experts": experts}
    if config.gram_data is None:
        update["gram_data"] = str(space.data.path)
    return gram_sources(config.model_copy(update=update))


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

    def prepare(self, max_ranks: int | Mapping[str, int], grams: Mapping[str, GramSource] | None = None) -> None:
        """Task vectors and SVD factors of every expert up to `max_ranks` (once; the checkpoints are freed), and
        the mean Grams of the experts `grams` names (RegMean; through the disk cache)."""
        from lors_search.whisper.gram import merge_grams

        sources = dict(grams or {})
        unknown = sorted(set(sources) - set(self.expert_names))
        if unknown:
            raise UserError(f"Gram sources name expert {unknown[0]!r}, which is not among {list(self.expert_names)}")
        base_state = {name: tensor.to(self.device) for name, tensor in self.base.state_dict.items()}
        prepared = []
        for name, checkpoint in self._experts:
            means = None
            if name in sources:
                self.progress(f"Gram matrices of expert {name} ({sources[name].language!r} train clips)")
                means, _ = merge_grams(checkpoint, sources[name], device=self.device, rules=self.rules)
            self.progress(f"preparing expert {name} (task vector and SVD factors)")
            prepared.append(
                prepare_expert(
                    base_state, checkpoint.state_dict, self.rules, max_ranks, self.device, name=name, grams=means
                )
            )
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

