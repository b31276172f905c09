"""From a flat trial point to a merge: `ParamMapper`, the small picklable map `flat params -> MergeParams`
(global scale plus one override per group and per expert, in the order the resolution applies them) that the
search hands its trials instead of the space, and the complete `MergeConfig` with absolute paths, so
`lors-search merge --config` reproduces a trial; and the largest rank per matrix for `prepare_expert`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lors_search.errors import UserError
from lors_search.merge_config import ExpertSource, MergeConfig
from lors_search.merging.params import MergeParams, Override, ParamValues, Selector
from lors_search.merging.plan import resolve_rank
from lors_search.merging.registry import get_method
from lors_search.space.parameters import MethodSpace, ParamDef, PointError, check_point, group_range
from lors_search.space.paths import hub_id
from lors_search.space.sampler import METHOD_PARAM


@dataclass(frozen=True)
class MethodMap:
    """One method's map from its (unprefixed) flat point to MergeParams: its parameters by name and one
    Selector(stack, layers=[first, last], module) per layer group, in group order."""

    method: str
    defs: Mapping[str, ParamDef]
    selectors: tuple[tuple[str, Selector], ...]

    @classmethod
    def of(cls, part: MethodSpace) -> MethodMap:
        selectors = tuple(
            (
                group.id,
                Selector(
                    stack=group.stack,  # type: ignore[arg-type]
                    layers=(group.first, group.last),
                    module=None if group.shared else group.modules,  # type: ignore[arg-type]
                ),
            )
            for group in part.groups
        )
        return cls(part.method, part.by_name, selectors)

    def __call__(self, flat: Mapping[str, Any]) -> MergeParams:
        """Global `scale`; per-expert scale overrides (scale_per: expert); then per group one override
        setting its rank form, density and (scale_per: group) scale, and its per-expert scales."""
        values = check_point(self.defs, flat, complete=True)  # PointError names the first problem
        for param in self.defs.values():
            if param.fixed:
                values[param.name] = param.value  # type: ignore[assignment]

        def number(param: ParamDef) -> int | float:
            return int(values[param.name]) if param.is_int else float(values[param.name])

        defs = self.defs.values()
        overrides: list[Override] = []
        for param in defs:
            if param.expert is not None and param.group is None:
                overrides.append(Override(select=Selector(expert=(param.expert,)), set=ParamValues(scale=number(param))))
        for group_id, select in self.selectors:
            given = {param.kind: number(param) for param in defs if param.group == group_id and param.expert is None}
            if given:
                overrides.append(Override(select=select, set=ParamValues(**given)))
            for param in defs:
                if param.group == group_id and param.expert is not None:
                    per_expert = select.model_copy(update={"expert": (param.expert,)})
                    overrides.append(Override(select=per_expert, set=ParamValues(scale=number(param))))
        globals_ = {param.name: number(param) for param in defs if param.group is None and param.expert is None}
        return MergeParams(method=self.method, params=ParamValues(**globals_), overrides=tuple(overrides))


@dataclass(frozen=True)
class ParamMapper:
    """`flat params -> MergeParams` of one search space: plain data (each method's parameters and group
    selectors, the checkpoints), so it pickles small. With several methods the point's `method` picks the map
    and the parameters named `<method>/...` are its own. UserError("search space <name>: trial parameters:
    ...") on a point that does not fit."""

    space_name: str
    maps: Mapping[str, MethodMap]
    several: bool
    base: str
    experts: tuple[ExpertSource, ...]

    def __call__(self, flat: Mapping[str, Any]) -> MergeParams:
        try:
            if not self.several:
                (only,) = self.maps.values()
                return only(flat)
            method = flat.get(METHOD_PARAM)
            if method not in self.maps:
                raise PointError(f"method = {method!r} is not one of the space's methods ({', '.join(self.maps)})")
            prefix = f"{method}/"
            return self.maps[method]({name[len(prefix):]: value for name, value in flat.items() if name.startswith(prefix)})
        except PointError as exc:
            raise UserError(f"search space {self.space_name}: trial parameters: {exc}") from None

    def merge_config(self, params: MergeParams) -> MergeConfig:
        """The complete merge config of `params` (base and expert paths absolute, default rules, base dtype)."""
        return MergeConfig(
            method=params.method, params=params.params, overrides=params.overrides, base=self.base, experts=self.experts
        )


def checkpoint_source(path: str) -> str:
    """What the merge loaders take: `hf:owner/name` -> `owner/name`, paths unchanged (already absolute)."""
    return hub_id(path) or path


def param_mapper(name: str, parts: Mapping[str, MethodSpace], base: str, experts: Mapping[str, str]) -> ParamMapper:
    """The mapper of a space `name` over its compiled methods `parts`, merging `experts` (name -> path) into `base`."""
    return ParamMapper(
        space_name=name,
        maps={method: MethodMap.of(part) for method, part in parts.items()},
        several=any(part.prefix for part in parts.values()),
        base=checkpoint_source(base),
        experts=tuple(ExpertSource(name=expert, path=checkpoint_source(path)) for expert, path in experts.items()),
    )


def max_ranks(part: MethodSpace) -> dict[str, int]:
    """Largest rank any trial of one method's space can ask for, per eligible matrix (HF tensor name); empty
    when the method takes no rank."""
    space, shape = part.space, part.shape
    method = get_method(space.method)
    out: dict[str, int] = {}
    if method.rank_rule is not None:
        # A method's own rank rule (TSV-M: r / N scaled by sv_fraction) at the top of every searched range.
        values = {**method.defaults, **{name: spec.bounds[1] for name, spec in space.params.items()}}
        for group in part.groups:
            for name, dims in group.matrices(shape).items():
                out[name] = method.rank_rule(values, dims, len(space.experts))
        return out
    kind = space.rank_param
    if kind is None or not method.uses_rank:
        return {}
    for group in part.groups:
        _, high = group_range(space, part.groups, group.id, kind).bounds
        for name, dims in group.matrices(shape).items():
            out[name] = (
                resolve_rank(int(high), None, dims) if kind == "rank" else resolve_rank(None, float(high), dims)
            )
    return out
