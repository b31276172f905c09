"""Seed points evaluated before the sampler takes over (`OptunaSearch(points_to_evaluate=...)`), checked
against the space because Optuna silently ignores misspelt names and uses out-of-range values as-is.

paper_defaults: LoRS-Merging's reference settings (arXiv 2502.17380): rank 1 % of d_model (at least 1;
rank_ratio 0.01), density 0.2, scale 1 / N experts (the method's own default scale where it has one).
task_arithmetic: plain task arithmetic expressed inside the space: full rank and/or density 1.0 in every
group (either one makes L + S equal the whole task vector), scale 1 / N.
A custom seed maps parameter names, or fnmatch patterns such as `*.density`, to values.
"""

from __future__ import annotations

import fnmatch
import math
from fractions import Fraction
from collections.abc import Mapping
from typing import Any

from lors_search.merging.registry import get_method
from lors_search.space.parameters import MethodSpace, ParamDef, PointError
from lors_search.space.sampler import METHOD_PARAM
from lors_search.space.schema import TASK_ARITHMETIC_HOSTS, SearchSpace, SeedSpec

PAPER_RANK_RATIO = 0.01
PAPER_DENSITY = 0.2


def seed_points(space: SearchSpace, parts: Mapping[str, MethodSpace]) -> list[tuple[str, dict[str, Any]]]:
    """(name, flat point) for every seed of `space` (compiled into `parts`, one per method), in order;
    PointError("seeds.<i> (<name>): ...") naming the seed otherwise."""
    if space.methods is not None:
        return _method_seed_points(space, parts)
    (part,) = parts.values()
    points: list[tuple[str, dict[str, Any]]] = []
    for index, seed in enumerate(space.seeds):
        name = seed if isinstance(seed, str) else seed.name
        where = f"seeds.{index} ({name})"
        try:
            if seed == "paper_defaults":
                point = _paper_defaults(part)
            elif seed == "task_arithmetic":
                point = _task_arithmetic(part)
            else:
                point = _custom(part, seed)  # type: ignore[arg-type]
            point = part.check(point, complete=False)
        except PointError as exc:
            raise PointError(f"{where}: {exc}") from None
        points.append((name, point))
    return points


def _method_seed_points(space: SearchSpace, spaces: Mapping[str, MethodSpace]) -> list[tuple[str, dict[str, Any]]]:
    """Seeds of a several-method space: with paper_defaults, every method at its paper's defaults; with
    task_arithmetic, task arithmetic 1/N (as `task_arithmetic`, else inside `lors`'s space when searched)."""
    wanted: list[tuple[str, str]] = []
    if "paper_defaults" in space.seeds:
        wanted.extend((method, "paper_defaults") for method in spaces)
    if "task_arithmetic" in space.seeds:
        host = next((name for name in TASK_ARITHMETIC_HOSTS if name in spaces), None)
        if host is None:
            raise PointError("seeds: task_arithmetic needs task_arithmetic or lors among the methods; drop the seed")
        if (host, "paper_defaults") not in wanted or host != "task_arithmetic":
            wanted.append((host, "task_arithmetic"))
    points: list[tuple[str, dict[str, Any]]] = []
    for method, seed in dict.fromkeys(wanted):
        sub = spaces[method]
        where = f"seeds ({method} {seed})"
        try:
            inner = _paper_defaults(sub) if seed == "paper_defaults" else _task_arithmetic(sub)
            inner = sub.check(inner, complete=False)
        except PointError as exc:
            raise PointError(f"{where}: {exc}") from None
        name = method if seed == "paper_defaults" else "task_arithmetic"
        points.append((name, {METHOD_PARAM: method, **{sub.prefix + key: value for key, value in inner.items()}}))
    return points


def _default_scale(space: SearchSpace) -> float:
    method = get_method(space.method)
    return method.default_scale if method.default_scale is not None else 1.0 / len(space.experts)


def paper_rank(d_model: int) -> int:
    """1 % of d_model, at least 1 (whisper-small: 7; d_model 192: 1)."""
    return max(1, math.floor(Fraction(repr(PAPER_RANK_RATIO)) * d_model))


def _need(param: ParamDef, value: float, seed: str, hint: str) -> float:
    if not param.contains(value):
        raise PointError(f"sets {param.name} = {value:g}, outside its range {param.describe()}; {hint}")
    return value


def _paper_defaults(part: MethodSpace) -> dict[str, Any]:
    hint = "widen the range or drop paper_defaults from seeds"
    space = part.space
    method = get_method(space.method)
    values: dict[str, float] = {
        "rank_ratio": PAPER_RANK_RATIO,
        "rank": paper_rank(part.shape.d_model),
        "density": method.defaults.get("density", PAPER_DENSITY),
        "scale": _default_scale(space),
    }
    if method.name != "lors" and method.uses_rank and "rank_ratio" not in method.defaults:
        values["rank_ratio"] = values["rank"] = 0  # a method that prunes with a rank only when asked
    for name in method.extra_params:
        declared = method.param(name).default
        values[name] = declared if declared is not None else 1.0 / len(space.experts)
    point: dict[str, Any] = {}
    for param in part.defs:
        wanted = values[param.kind]
        if param.fixed:
            continue
        point[param.name] = _need(param, wanted, "paper_defaults", hint)
    return point


def _task_arithmetic(part: MethodSpace) -> dict[str, Any]:
    space = part.space
    method = get_method(space.method)
    if method.name == "ties":
        raise PointError(
            "task arithmetic is not representable with method 'ties' (its sign election and disjoint mean "
            "differ from a plain sum at any density); drop task_arithmetic from seeds"
        )
    defs = part.defs
    point: dict[str, Any] = {}
    shape = part.shape
    groups = {group.id: group for group in part.groups}
    for group_id, group in groups.items():
        mine = {param.kind: param for param in defs if param.group == group_id}
        rank = mine.get("rank") or mine.get("rank_ratio")
        density = mine.get("density")
        if rank is None and density is None:
            continue  # task_arithmetic itself: nothing is pruned
        full = 1.0 if rank is not None and rank.kind == "rank_ratio" else float(group.full_rank(shape))
        rank_full = rank is not None and rank.contains(full)
        density_full = density is not None and density.contains(1.0)
        if not (rank_full or density_full):
            ranges = ", ".join(f"{p.kind} {p.describe()}" for p in (rank, density) if p is not None)
            needs = {
                (True, True): "density 1.0 or full rank",
                (True, False): "full rank",
                (False, True): "density 1.0",
            }[(rank is not None, density is not None)]
            whole = "rank_ratio high: 1.0" if rank is not None and rank.kind == "rank_ratio" else f"rank high: {int(full)}"
            options = [
                text
                for param, text in ((density, "density high: 1.0"), (rank, whole))
                if param is not None and not param.fixed
            ]
            widen = f"widen a range ({' or '.join(options)}) or" if options else "unfix a parameter or"
            raise PointError(
                f"task arithmetic needs {needs} in group {group_id} ({ranges}); {widen} drop task_arithmetic "
                "from seeds"
            )
        for param, whole_value, is_whole in ((rank, full, rank_full), (density, 1.0, density_full)):
            if param is not None and not param.fixed:
                point[param.name] = (int(whole_value) if param.is_int else whole_value) if is_whole else (
                    int(param.low) if param.is_int else param.low
                )
    hint = "widen the scale range or drop task_arithmetic from seeds"
    for param in defs:
        if param.kind == "scale" and not param.fixed:
            point[param.name] = _need(param, 1.0 / len(space.experts), "task_arithmetic", hint)
    return point


def _custom(part: MethodSpace, seed: SeedSpec) -> dict[str, Any]:
    names = [param.name for param in part.defs if not param.fixed]
    point: dict[str, Any] = {}
    for key, value in seed.params.items():
        if key in names or not any(char in key for char in "*?["):
            point[key] = value  # an unknown name is reported by the check below
            continue
        hits = [name for name in names if fnmatch.fnmatchcase(name, key)]
        if not hits:
            raise PointError(f"pattern {key!r} matches no searched parameter")
        point.update(dict.fromkeys(hits, value))
    return point
