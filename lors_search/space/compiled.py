"""A search space compiled once, at load: the validated data (`SearchSpace`) with everything computed from it
and the base's shape — per method its groups and parameters, the Optuna sampler, the seed points, the max
ranks, the objective (`Scorer`) and the small picklable `ParamMapper` (flat params -> MergeParams) that the
search hands its trials instead of the space. Several methods: parameters are named `<method>/<name>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import cached_property
from typing import Any

from lors_search.merge_config import MergeConfig
from lors_search.merging.params import MergeParams
from lors_search.space.convert import ParamMapper, max_ranks, param_mapper
from lors_search.space.groups import Group
from lors_search.space.objective import Scorer
from lors_search.space.parameters import MethodSpace, ParamDef, PointError, compile_method
from lors_search.space.sampler import METHOD_PARAM, MethodSampler, SpaceSampler
from lors_search.space.schema import SearchSpace, resolved_yaml
from lors_search.space.seeds import seed_points
from lors_search.space.shape import BaseShape


class CompiledSpace:
    """A loaded search space: `space` (the validated data; its fields read through this object too, e.g.
    `compiled.experts`) and what it computes, each built once on first use. Without the base's shape (a
    template loaded with check_paths False and a base unknown offline) only the data is there."""

    def __init__(self, space: SearchSpace, shape: BaseShape | None) -> None:
        self.space = space
        self._shape = shape

    def __getattr__(self, name: str) -> Any:
        # Only reached for names this class lacks: the space's fields and properties (name, experts, data, ...).
        if name.startswith("_") or name == "space":
            raise AttributeError(name)
        return getattr(self.space, name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CompiledSpace) and (self.space, self._shape) == (other.space, other._shape)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CompiledSpace({self.space.name!r}, methods {', '.join(self.space.method_names)})"

    @property
    def shape(self) -> BaseShape:
        """The base's shape (read at load time); ValueError when it is unknown."""
        if self._shape is None:
            raise ValueError("this search space has no base shape (load it with load_search_space and its files)")
        return self._shape

    # ---- per method ---------------------------------------------------------------------------------------------

    @cached_property
    def parts(self) -> dict[str, MethodSpace]:
        """Each method's compiled part (one for a single-method space, prefix `<method>/` with several)."""
        space, shape = self.space, self.shape
        if space.methods is None:
            return {space.method: compile_method(space, shape)}
        return {name: compile_method(space.method_space(name), shape, f"{name}/") for name in space.methods}

    def method_spaces(self) -> dict[str, MethodSpace]:
        return self.parts

    def group_list(self) -> tuple[Group, ...]:
        """The layer groups (shared by every method of the space)."""
        return next(iter(self.parts.values())).groups

    @cached_property
    def _defs(self) -> tuple[ParamDef, ...]:
        if self.space.methods is None:
            return next(iter(self.parts.values())).defs
        return tuple(
            replace(param, name=part.prefix + param.name, method=name)
            for name, part in self.parts.items()
            for param in part.defs
        )

    def param_defs(self) -> tuple[ParamDef, ...]:
        """Every parameter of the space, sampled and fixed, in a stable order (prefixed with several methods)."""
        return self._defs

    def param_names(self) -> list[str]:
        """Names of the sampled (Optuna) parameters (and `method` when the space searches several)."""
        names = [param.name for param in self._defs if not param.fixed]
        return [METHOD_PARAM, *names] if self.space.methods is not None else names

    # ---- the search -----------------------------------------------------------------------------------------------

    @cached_property
    def _sampler(self) -> SpaceSampler | MethodSampler:
        if self.space.methods is None:
            return SpaceSampler(self._defs)
        return MethodSampler({name: SpaceSampler(tuple(p for p in self._defs if p.method == name)) for name in self.parts})

    def sampler(self) -> SpaceSampler | MethodSampler:
        """The define-by-run Optuna space (`OptunaSearch(space=...)`)."""
        return self._sampler

    @cached_property
    def _seeds(self) -> tuple[tuple[str, dict[str, Any]], ...]:
        return tuple(seed_points(self.space, self.parts))

    def named_seed_points(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, flat point) of every seed, in order (checked at load)."""
        return [(name, dict(point)) for name, point in self._seeds]

    def seed_points(self) -> list[dict[str, Any]]:
        return [dict(point) for _, point in self._seeds]

    def validate_point(self, flat: Mapping[str, Any], *, complete: bool = True) -> dict[str, int | float]:
        """`flat` checked against the sampled parameters (names, ranges, integers; with `complete`, all there);
        with several methods, `flat` holds `method` and only that method's parameters. PointError otherwise."""
        if self.space.methods is None:
            return next(iter(self.parts.values())).check(flat, complete=complete)
        method = flat.get(METHOD_PARAM)
        if method not in self.parts:
            raise PointError(f"method = {method!r} is not one of the space's methods ({', '.join(self.parts)})")
        part = self.parts[method]
        strays = [name for name in flat if name != METHOD_PARAM and not str(name).startswith(part.prefix)]
        if strays:
            raise PointError(f"parameter {strays[0]!r} does not belong to method {method!r}")
        inner = part.check(
            {name[len(part.prefix):]: value for name, value in flat.items() if name != METHOD_PARAM}, complete=complete
        )
        return {METHOD_PARAM: method, **{part.prefix + name: value for name, value in inner.items()}}  # type: ignore[dict-item]

    @cached_property
    def mapper(self) -> ParamMapper:
        """flat params -> MergeParams, small and picklable: what trials and actors receive."""
        space = self.space
        return param_mapper(space.name, self.parts, space.base, {expert.name: expert.path for expert in space.experts})

    def merge_params(self, flat: Mapping[str, Any]) -> MergeParams:
        return self.mapper(flat)

    def merge_config(self, flat: Mapping[str, Any]) -> MergeConfig:
        """The complete merge config of a trial (what `lors-search merge --config` reads)."""
        return self.mapper.merge_config(self.mapper(flat))

    @cached_property
    def _max_ranks(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for part in self.parts.values():
            for name, rank in max_ranks(part).items():
                out[name] = max(out.get(name, 0), rank)
        return out

    def max_ranks(self) -> dict[str, int]:
        """Largest rank any trial can ask for, per eligible matrix (HF tensor name); empty when no method takes
        a rank. Pass it as `prepare_expert(..., max_rank=...)`."""
        return dict(self._max_ranks)

    @cached_property
    def scorer(self) -> Scorer:
        """The objective as plain data (what a trial scores itself with)."""
        return Scorer.of(self.space)

    def score(
        self, cells: Mapping[str, Any], references: Mapping[Any, Any], n_per_language: int | None = None
    ) -> dict[str, float]:
        return self.scorer(cells, references, n_per_language)

    def resolved_yaml(self) -> str:
        return resolved_yaml(self.space)
