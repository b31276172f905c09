"""The merge methods by name, and the union of their declared parameters.

The single source of truth for the CLI flags, the merge YAML and the search space: each method declares
itself in its own file (a `MergeMethod` from `method.py`); this module only collects them. A parameter
name means one thing across methods (same type and bounds), which `register_method` enforces.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from lors_search.errors import UserError
from lors_search.merging import dare, iso, lors, regmean, task_arithmetic, ties, tsv
from lors_search.merging.method import (
    DENSE_SCALE,
    DENSITY,
    RANK,
    RANK_RATIO,
    SCALE,
    SEED,
    MergeMethod,
    Param,
    TensorMerge,
)

# Kept under its old names for callers of the first registry.
MatrixMerge = TensorMerge
ParamSpec = Param
LORS_PAPER = lors.LORS_PAPER

_METHODS: dict[str, MergeMethod] = {}
# The shared parameters first, with their method-neutral help; methods add their own on registration.
_PARAMS: dict[str, Param] = {param.name: param for param in (RANK, RANK_RATIO, DENSITY, SCALE, SEED, DENSE_SCALE)}
PARAMS: Mapping[str, Param] = MappingProxyType(_PARAMS)


def register_method(method: MergeMethod) -> MergeMethod:
    """Add a method to the registry (names are unique; a parameter keeps one meaning across methods)."""
    if method.name in _METHODS:
        raise ValueError(f"merge method {method.name!r} is already registered")
    for param in method.parameters:
        known = _PARAMS.get(param.name)
        if known is not None and not known.same_meaning(param):
            raise ValueError(
                f"merge method {method.name!r} declares {param.name!r} with other type or bounds than an "
                "earlier method; use another name"
            )
    _METHODS[method.name] = method
    for param in method.parameters:
        _PARAMS.setdefault(param.name, param)
    return method


def method_names() -> tuple[str, ...]:
    return tuple(_METHODS)


def methods_need(names: Iterable[str], what: str) -> bool:
    """Whether any of the methods `names` needs the prepared input `what` (e.g. "gram" for RegMean), so that
    whoever prepares the experts computes it only when some method (of a merge or a search space) reads it."""
    return any(what in get_method(name).needs for name in names)


def check_method_name(name: str) -> str:
    """`name` when a method is registered under it; ValueError listing the known ones otherwise (the check
    behind the merge YAML, the search space and `get_method`)."""
    if name not in _METHODS:
        raise ValueError(f"unknown merge method {name!r} (known: {', '.join(_METHODS)})")
    return name


def get_method(name: str) -> MergeMethod:
    """The registered method `name`; UserError listing the known ones otherwise."""
    try:
        return _METHODS[check_method_name(name)]
    except ValueError as exc:
        raise UserError(str(exc)) from None


for _method in (
    task_arithmetic.METHOD,
    ties.METHOD,
    dare.METHOD,
    lors.SPARSE,
    lors.LOWRANK,
    lors.LORS,
    iso.ISO_C,
    iso.ISO_CTS,
    tsv.TSV_M,
    regmean.REGMEAN,
):
    register_method(_method)
