"""What the runtime's actors load: the base, the experts (with their languages), the dev set, the merge rules
and what the experts prepare (max ranks, the methods' inputs). Small and picklable: no search space; trials
hand the workers MergeParams."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from lors_search.merging.rules import DEFAULT_RULES, MergeRule

if TYPE_CHECKING:
    from lors_search.space import CompiledSpace
    from lors_search.whisper.gram import GramSource


@dataclass(frozen=True)
class ExpertSpec:
    name: str
    path: str
    language: str


@dataclass(frozen=True)
class DataSpec:
    path: str
    split: str = "dev"
    languages: tuple[str, ...] | None = None
    tasks: tuple[str, ...] = ("transcribe", "translate")
    batch_size: int = 32


@dataclass(frozen=True)
class RuntimeSpec:
    """Everything the expert and worker actors need. `max_ranks` is what
    `prepare_expert` keeps factors for (an int for every eligible matrix, or per tensor); `methods` the merge
    methods a trial may use (what else the experts must prepare: RegMean's Grams)."""

    base: str
    experts: tuple[ExpertSpec, ...]
    data: DataSpec
    max_ranks: int | Mapping[str, int] = 0
    rules: tuple[MergeRule, ...] = field(default=DEFAULT_RULES)
    methods: tuple[str, ...] = ()

    @property
    def expert_names(self) -> tuple[str, ...]:
        return tuple(expert.name for expert in self.experts)

    @property
    def needs_grams(self) -> bool:
        from lors_search.merging.registry import methods_need

        return methods_need(self.methods, "gram")

    def gram_source(self, expert: ExpertSpec) -> GramSource | None:
        """Where `expert`'s RegMean Grams come from when a method of the space needs them (else None): the train
        split of the space's dataset, the expert's language, its "expert" subset where the dataset tags one
        (the embedded benchmark), cached under <data>/grams/. Never dev or test: those score the trials."""
        if not self.needs_grams:
            return None
        from lors_search.whisper.gram import GramSource, default_cache_dir, default_subset

        data = self.data.path
        return GramSource(data=data, language=expert.language, subset=default_subset(data),
                          cache_dir=str(default_cache_dir(data)))


def spec_from_space(space: CompiledSpace) -> RuntimeSpec:
    """The runtime spec of a loaded search space."""
    data = space.space.data
    return RuntimeSpec(
        base=space.space.base,
        experts=tuple(ExpertSpec(e.name, e.path, e.language) for e in space.space.experts),
        data=DataSpec(
            path=data.path,
            split=data.split,
            languages=data.languages,
            tasks=data.tasks,
            batch_size=data.batch_size,
        ),
        max_ranks=space.max_ranks(),
        methods=space.space.method_names,
    )
