"""From a flat trial point to a merge: `MergeParams` (global scale plus one override per group and per
expert, in the order the resolution applies them) and a complete `MergeConfig` with absolute paths, so
`lors-search merge --config` reproduces a trial; and the largest rank per matrix for `prepare_expert`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lors_search.errors import UserError
from lors_search.merging.params import MergeParams, Override, ParamValues, Selector
from lors_search.merging.plan import resolve_rank
from lors_search.space.parameters import ParamDef, PointError, group_range, split_method_point, validate_point
from lors_search.space.paths import hub_id

if TYPE_CHECKING:
    from lors_search.merge_config import MergeConfig
    from lors_search.space.schema import SearchSpace


def point_values(space: SearchSpace, flat: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter's value: the sampled ones from `flat` (checked, complete), the fixed ones from the space."""
    try:
        values: dict[str, int | float] = validate_point(space, flat, complete=True)
    except PointError as exc:
        raise UserError(f"search space {space.name}: trial parameters: {exc}") from None
    for param in space.param_defs():
        if param.fixed:
            values[param.name] = int(param.value) if param.is_int else float(param.value)  # type: ignore[arg-type]
    return values


def merge_params(space: SearchSpace, flat: Mapping[str, Any]) -> MergeParams:
    """The MergeParams of a trial: global `scale`; per-expert scale overrides (scale_per: expert); then per
    group one override Selector(stack, layers=[first, last], module) setting its rank form, density and
    (scale_per: group) scale."""
    if space.methods is not None:
        try:
            inner, unprefixed = split_method_point(space, flat)
        except PointError as exc:
            raise UserError(f"search space {space.name}: trial parameters: {exc}") from None
        return merge_params(inner, unprefixed)
    values = point_values(space, flat)
    defs = space.param_defs()

    def number(param: ParamDef) -> int | float:
        return int(values[param.name]) if param.is_int else float(values[param.name])

    overrides: list[Override] = []
    for param in defs:
        if param.expert is not None and param.group is None:
            overrides.append(Override(select=Selector(expert=(param.expert,)), set=ParamValues(scale=number(param))))
    for group in space.group_list():
        given = {param.kind: number(param) for param in defs if param.group == group.id and param.expert is None}
        select = Selector(
            stack=group.stack,  # type: ignore[arg-type]
            layers=(group.first, group.last),
            module=None if group.shared else group.modules,  # type: ignore[arg-type]
        )
        if given:
            overrides.append(Override(select=select, set=ParamValues(**given)))
        for param in defs:
            if param.group == group.id and param.expert is not None:
                per_expert = select.model_copy(update={"expert": (param.expert,)})
                overrides.append(Override(select=per_expert, set=ParamValues(scale=number(param))))
    globals_ = {param.name: number(param) for param in defs if param.group is None and param.expert is None}
    return MergeParams(method=space.method, params=ParamValues(**globals_), overrides=tuple(overrides))


def checkpoint_source(path: str) -> str:
    """What the merge loaders take: `hf:owner/name` -> `owner/name`, paths unchanged (already absolute)."""
    return hub_id(path) or path


def merge_config(space: SearchSpace, flat: Mapping[str, Any]) -> MergeConfig:
    """The complete merge config of a trial (base and expert paths absolute, default rules, base dtype)."""
    from lors_search.merge_config import ExpertSource, MergeConfig

    params = merge_params(space, flat)
    return MergeConfig(
        method=params.method,
        params=params.params,
        overrides=params.overrides,
        base=checkpoint_source(space.base),
        experts=tuple(
            ExpertSource(name=expert.name, path=checkpoint_source(expert.path)) for expert in space.experts
        ),
    )


def max_ranks(space: SearchSpace) -> dict[str, int]:
    """Largest rank any trial of the space can ask for, per eligible matrix (HF tensor name); empty when the
    method takes no rank. Pass it as `prepare_expert(..., max_rank=space.max_ranks())`."""
    from lors_search.merging.registry import get_method

    if space.methods is not None:
        out: dict[str, int] = {}
        for sub in space.method_spaces().values():
            for name, rank in max_ranks(sub).items():
                out[name] = max(out.get(name, 0), rank)
        return out
    method = get_method(space.method)
    shape = space.shape
    out = {}
    if method.rank_rule is not None:
        # A method's own rank rule (TSV-M: r / N scaled by sv_fraction) at the top of every searched range.
        values = {**method.defaults, **{name: spec.bounds[1] for name, spec in space.params.items()}}
        for group in space.group_list():
            for name, dims in group.matrices(shape).items():
                out[name] = method.rank_rule(values, dims, len(space.experts))
        return out
    kind = space.rank_param
    if kind is None or not method.uses_rank:
        return {}
    for group in space.group_list():
        _, high = group_range(space, group.id, kind).bounds
        for name, dims in group.matrices(shape).items():
            out[name] = (
                resolve_rank(int(high), None, dims) if kind == "rank" else resolve_rank(None, float(high), dims)
            )
    return out
