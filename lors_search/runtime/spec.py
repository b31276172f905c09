"""What the runtime's actors load: the base, the experts (with their languages), the dev set and the merge
rules, plus the search space that turns a trial's flat parameters into MergeParams. Small and picklable."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lors_search.merging.params import MergeParams
from lors_search.merging.rules import DEFAULT_RULES, MergeRule


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
    """Everything the expert and worker actors need. `to_params` maps a trial's flat Optuna parameters to
    MergeParams (a picklable callable, e.g. the space's bound `merge_params`); `max_ranks` is what
    `prepare_expert` keeps factors for (an int for every eligible matrix, or per tensor)."""

    base: str
    experts: tuple[ExpertSpec, ...]
    data: DataSpec
    to_params: Callable[[Mapping[str, Any]], MergeParams]
    max_ranks: int | Mapping[str, int] = 0
    rules: tuple[MergeRule, ...] = field(default=DEFAULT_RULES)

    @property
    def expert_names(self) -> tuple[str, ...]:
        return tuple(expert.name for expert in self.experts)


def spec_from_space(space: Any) -> RuntimeSpec:
    """The runtime spec of a `lors_search.space.SearchSpace` (read through its documented fields only)."""
    data = space.data
    languages = getattr(data, "languages", None)
    rules = getattr(space, "rules", None)
    return RuntimeSpec(
        base=str(space.base),
        experts=tuple(ExpertSpec(e.name, str(e.path), e.language) for e in space.experts),
        data=DataSpec(
            path=str(data.path),
            split=getattr(data, "split", "dev"),
            languages=tuple(languages) if languages else None,
            tasks=tuple(getattr(data, "tasks", ("transcribe", "translate"))),
            batch_size=int(getattr(data, "batch_size", 32) or 32),
        ),
        to_params=space.merge_params,
        max_ranks=space.max_ranks(),
        rules=tuple(rules) if rules else DEFAULT_RULES,
    )
