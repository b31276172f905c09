"""The flat parameters of a space: one `ParamDef` per searched (or fixed) number, with a stable name —
`<group>.<rank|rank_ratio|density|scale>` for group parameters (`enc.g0.self_attn.rank_ratio`,
`dec.g1.density` with shared modules), `scale` for the global scale and `scale.<expert>` per expert —
and the check of a flat point (seed or trial) against them. Several methods prefix names `<method>/`
(`compiled.py`).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from lors_search.merging.registry import get_method
from lors_search.space.groups import Group, build_groups, matching_groups
from lors_search.space.schema import RANGE_PARAMS, ParamRange, SearchSpace, range_contains, range_text
from lors_search.space.shape import BaseShape


class PointError(ValueError):
    """A flat parameter dict that does not fit the space (unknown name, value out of range, missing)."""


@dataclass(frozen=True)
class ParamDef:
    """One parameter. `value` set means fixed (not an Optuna parameter). `group` is the group id it applies
    to, `expert` the expert (per-expert scales); both None for the global scale."""

    name: str
    kind: str  # rank | rank_ratio | density | scale, or a method's own parameter (sv_fraction, ...)
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
        return range_contains(self.low, self.high, None if self.fixed else self.step, value)

    def describe(self) -> str:
        return range_text(self.low, self.high, self.log, self.step, self.value)


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


def group_range(space: SearchSpace, groups: tuple[Group, ...], group_id: str, kind: str) -> ParamRange:
    """The range of `kind` for one group of `groups`: the space-wide range, replaced by each matching
    `group_ranges` entry in file order (the last match wins)."""
    spec = getattr(space, kind) if kind in RANGE_PARAMS else space.params[kind]
    target = next(group for group in groups if group.id == group_id)
    for pattern, ranges in space.group_ranges.items():
        override = getattr(ranges, kind)
        if override is not None and target in matching_groups(pattern, groups):
            spec = override
    return spec


def build_param_defs(space: SearchSpace, groups: tuple[Group, ...]) -> tuple[ParamDef, ...]:
    """Every parameter of the single-method `space` over its `groups`: per group (rank form, density,
    per-group and per-group-per-expert scales), then the scales, then the method's other declared parameters
    (one value each)."""
    method = get_method(space.method)
    rank_kind = space.rank_param if method.uses_rank else None
    scale = space.scale
    assert scale is not None  # filled from the method's declaration at validation
    defs: list[ParamDef] = []
    for group in groups:
        density = "density" if method.uses_density and space.density is not None else None
        kinds = [kind for kind in (rank_kind, density) if kind is not None]
        if space.scale_per == "group":
            kinds.append("scale")
        for kind in kinds:
            defs.append(_def(f"{group.id}.{kind}", kind, group_range(space, groups, group.id, kind), group=group.id))
        if space.scale_per == "group_expert":
            # The AdaMerging lever: one weight per (layer group, expert).
            spec = group_range(space, groups, group.id, "scale")
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


def check_point(
    defs: Mapping[str, ParamDef], flat: Mapping[str, Any], *, complete: bool = True
) -> dict[str, int | float]:
    """`flat` checked against one method's parameters `defs` (by name): known names, sampled (not fixed),
    values inside the ranges (on the step grid), integers for int parameters; with `complete`, every sampled
    parameter present. Returns the values as plain int/float. PointError names the first problem."""
    out: dict[str, int | float] = {}
    for name, raw in flat.items():
        param = defs.get(name)
        if param is None:
            sampled = [name for name, param in defs.items() if not param.fixed]
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
        sampled = [name for name, param in defs.items() if not param.fixed]
        missing = [name for name in sampled if name not in out]
        if missing:
            raise PointError(f"parameter {missing[0]!r} is missing ({len(missing)} of {len(sampled)} missing)")
    return out


@dataclass(frozen=True)
class MethodSpace:
    """One method's part of a space, compiled once: its single-method `space`, the base's `shape`, the layer
    `groups` and every parameter `defs` (names unprefixed); `prefix` is `<method>/` in a space over several
    methods (what its parameters are called there), else empty."""

    space: SearchSpace
    shape: BaseShape
    groups: tuple[Group, ...]
    defs: tuple[ParamDef, ...]
    prefix: str = ""

    @property
    def method(self) -> str:
        return self.space.method

    @cached_property
    def by_name(self) -> dict[str, ParamDef]:
        return {param.name: param for param in self.defs}

    def check(self, flat: Mapping[str, Any], *, complete: bool = True) -> dict[str, int | float]:
        """`flat` (unprefixed) checked against this method's parameters (`check_point`)."""
        return check_point(self.by_name, flat, complete=complete)


def compile_method(space: SearchSpace, shape: BaseShape, prefix: str = "") -> MethodSpace:
    groups = build_groups(space, shape)
    return MethodSpace(space, shape, groups, build_param_defs(space, groups), prefix)


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
