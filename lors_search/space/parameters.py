"""The flat parameters of a space: one `ParamDef` per searched (or fixed) number, with a stable name —
`<group>.<rank|rank_ratio|density|scale>` for group parameters (`enc.g0.self_attn.rank_ratio`,
`dec.g1.density` with shared modules), `scale` for the global scale and `scale.<expert>` per expert —
and the check of a flat point (seed or trial) against them.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from lors_search.space.groups import matching_groups

if TYPE_CHECKING:
    from lors_search.space.schema import ParamRange, SearchSpace


class PointError(ValueError):
    """A flat parameter dict that does not fit the space (unknown name, value out of range, missing)."""


@dataclass(frozen=True)
class ParamDef:
    """One parameter. `value` set means fixed (not an Optuna parameter). `group` is the group id it applies
    to, `expert` the expert (per-expert scales); both None for the global scale."""

    name: str
    kind: str  # rank | rank_ratio | density | scale
    is_int: bool
    low: float
    high: float
    log: bool = False
    step: float | None = None
    value: float | None = None
    group: str | None = None
    expert: str | None = None
    method: str | None = None  # with several methods: the method whose parameter this is (name prefixed)

    @property
    def fixed(self) -> bool:
        return self.value is not None

    def contains(self, value: float) -> bool:
        if not self.low <= value <= self.high:
            return False
        if self.step is not None and not self.fixed:
            steps = (value - self.low) / self.step
            return abs(steps - round(steps)) < 1e-9
        return True

    def describe(self) -> str:
        if self.fixed:
            return f"fixed at {self.value}"
        extra = ", log" if self.log else (f", step {self.step}" if self.step is not None else "")
        return f"[{self.low}, {self.high}{extra}]"


def _def(
    name: str, kind: str, spec: ParamRange, group: str | None = None, expert: str | None = None, *, is_int: bool = False
) -> ParamDef:
    low, high = spec.bounds
    is_int = is_int or kind == "rank"
    cast = int if is_int else float
    return ParamDef(
        name=name,
        kind=kind,
        is_int=is_int,
        low=cast(low),
        high=cast(high),
        log=spec.log,
        step=None if spec.step is None else cast(spec.step),
        value=None if spec.value is None else cast(spec.value),
        group=group,
        expert=expert,
    )


def group_range(space: SearchSpace, group_id: str, kind: str) -> ParamRange:
    """The range of `kind` for one group: the space-wide range, replaced by each matching `group_ranges`
    entry in file order (the last match wins)."""
    spec = getattr(space, kind) if kind in ("rank", "rank_ratio", "density", "scale") else space.params[kind]
    groups = space.group_list()
    target = next(group for group in groups if group.id == group_id)
    for pattern, ranges in space.group_ranges.items():
        override = getattr(ranges, kind)
        if override is not None and target in matching_groups(pattern, groups):
            spec = override
    return spec


def build_param_defs(space: SearchSpace) -> tuple[ParamDef, ...]:
    """Every parameter of `space`: per group (rank form, density, per-group and per-group-per-expert scales),
    then the scales, then the method's other declared parameters (one value each). With several methods:
    each method's parameters, named `<method>/<name>`."""
    if space.methods is not None:
        return tuple(
            replace(param, name=f"{name}/{param.name}", method=name)
            for name, sub in space.method_spaces().items()
            for param in sub.param_defs()
        )
    from lors_search.merging.registry import get_method

    method = get_method(space.method)
    rank_kind = space.rank_param if method.uses_rank else None
    scale = space.scale
    assert scale is not None  # filled from the method's declaration at validation
    defs: list[ParamDef] = []
    for group in space.group_list():
        density = "density" if method.uses_density and space.density is not None else None
        kinds = [kind for kind in (rank_kind, density) if kind is not None]
        if space.scale_per == "group":
            kinds.append("scale")
        for kind in kinds:
            defs.append(_def(f"{group.id}.{kind}", kind, group_range(space, group.id, kind), group=group.id))
        if space.scale_per == "group_expert":
            # The AdaMerging lever: one weight per (layer group, expert).
            spec = group_range(space, group.id, "scale")
            defs.extend(
                _def(f"{group.id}.scale.{expert.name}", "scale", spec, group=group.id, expert=expert.name)
                for expert in space.experts
            )
    if space.scale_per == "expert":
        defs.extend(_def(f"scale.{expert.name}", "scale", scale, expert=expert.name) for expert in space.experts)
    else:
        # With per-group scales, `scale` weighs the tensors outside every layer (embeddings, convs, final norms).
        defs.append(_def("scale", "scale", scale))
    for name, spec in space.params.items():
        defs.append(_def(name, name, spec, is_int=method.param(name).type is int))
    return tuple(defs)


def validate_point(space: SearchSpace, flat: Mapping[str, Any], *, complete: bool = True) -> dict[str, int | float]:
    """`flat` checked against the space's sampled parameters: known names, values inside the ranges (on the
    step grid), integers for ranks; with `complete`, every sampled parameter present. Returns the values as
    plain int/float. PointError names the first problem. With several methods, `flat` also holds `method`
    and only that method's parameters."""
    if space.methods is not None:
        return _validate_method_point(space, flat, complete=complete)
    defs = {param.name: param for param in space.param_defs()}
    sampled = [name for name, param in defs.items() if not param.fixed]
    out: dict[str, int | float] = {}
    for name, raw in flat.items():
        param = defs.get(name)
        if param is None:
            close = difflib.get_close_matches(str(name), sampled, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {_summary(sampled)})"
            raise PointError(f"unknown parameter {name!r}{hint}")
        if param.fixed:
            raise PointError(f"parameter {name!r} is fixed at {param.value} in this space; it is not searched")
        value = _number(name, raw, param.is_int)
        if not param.contains(value):
            raise PointError(f"{name} = {raw} is outside its range {param.describe()}")
        out[name] = value
    if complete:
        missing = [name for name in sampled if name not in out]
        if missing:
            raise PointError(f"parameter {missing[0]!r} is missing ({len(missing)} of {len(sampled)} missing)")
    return out


def _validate_method_point(space: SearchSpace, flat: Mapping[str, Any], *, complete: bool) -> dict[str, Any]:
    method = flat.get("method")
    spaces = space.method_spaces()
    if method not in spaces:
        raise PointError(f"method = {method!r} is not one of the space's methods ({', '.join(spaces)})")
    prefix = f"{method}/"
    strays = [name for name in flat if name != "method" and not str(name).startswith(prefix)]
    if strays:
        raise PointError(f"parameter {strays[0]!r} does not belong to method {method!r}")
    inner = validate_point(
        spaces[method], {name[len(prefix):]: value for name, value in flat.items() if name != "method"}, complete=complete
    )
    return {"method": method, **{prefix + name: value for name, value in inner.items()}}


def split_method_point(space: SearchSpace, flat: Mapping[str, Any]) -> tuple[SearchSpace, dict[str, Any]]:
    """(the method's own space, its unprefixed parameters) of a point of a several-method space."""
    method = flat.get("method")
    spaces = space.method_spaces()
    if method not in spaces:
        raise PointError(f"method = {method!r} is not one of the space's methods ({', '.join(spaces)})")
    prefix = f"{method}/"
    return spaces[method], {name[len(prefix):]: value for name, value in flat.items() if name.startswith(prefix)}


def _number(name: str, raw: Any, is_int: bool) -> int | float:
    if isinstance(raw, bool) or not hasattr(raw, "__float__"):
        raise PointError(f"{name} = {raw!r} is not a number")
    value = float(raw)
    if is_int:
        if value != int(value):
            raise PointError(f"{name} = {raw} must be an integer")
        return int(value)
    return value


def _summary(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 6 else ", ".join(names[:6]) + f", ... ({len(names)} in all)"
