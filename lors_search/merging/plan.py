"""Parameter resolution: from global values and overrides to the concrete numbers of every
(tensor, expert) pair. Pure and cheap (no tensors), so the search can resolve one plan per trial.

Rank: an int is capped at the matrix's smaller side; rank_ratio gives max(1, floor(ratio * side)) (0 for
ratio 0), so the paper's default "1 % of d_model, at least 1" is rank_ratio 0.01 (whisper-small: 7).
Kept entries: k = floor(density * numel). Scale: the method's default is 1 / number of experts (TIES: 1).
Which parameters exist, their defaults and which tensors they reach come from the method's declaration
(`method.MergeMethod`); nothing here names a particular method.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from lors_search.errors import UserError
from lors_search.merging.method import MergeMethod, TensorPlan
from lors_search.merging.params import MergeParams, Override
from lors_search.merging.registry import get_method
from lors_search.merging.rules import DEFAULT_RULES, MergeRule, assign_treatments
from lors_search.merging.tensor_names import TensorInfo
from lors_search.merging.topk import keep_count


@dataclass(frozen=True)
class MergePlan:
    """What one merge does: the method, the experts in order, and a TensorPlan per tensor."""

    method: str
    experts: tuple[str, ...]
    tensors: Mapping[str, TensorPlan]

    def max_ranks(self) -> dict[str, int]:
        """Largest rank asked per eligible tensor: what `prepare_expert` must keep factors for."""
        return {
            name: max(tensor.ranks, default=0)
            for name, tensor in self.tensors.items()
            if tensor.treatment == "lowrank_sparse"
        }


def resolve_rank(rank: int | None, rank_ratio: float | None, shape: tuple[int, ...]) -> int:
    """Concrete rank for a matrix of `shape` from an int rank or a ratio of its smaller side."""
    side = min(shape) if shape else 0
    if rank is not None:
        return min(rank, side)
    if rank_ratio is None or rank_ratio == 0.0:
        return 0
    # The ratio is read as the decimal it prints as, so 0.01 * 700 is 7, not 6.999...
    return min(side, max(1, math.floor(Fraction(repr(rank_ratio)) * side)))


def effective_globals(params: MergeParams, n_experts: int) -> dict[str, int | float | None]:
    """The global values every (tensor, expert) starts from: the method's declared defaults, then
    `params.params`. Keys: rank, rank_ratio (one of them None), density, scale, seed and every other
    parameter the method declares; a default of None (the scales) resolved to 1 / number of experts."""
    method = get_method(params.method)
    values: dict[str, int | float | None] = {"rank": None, "rank_ratio": None, "density": 0.0, "seed": 0}
    for param in method.parameters:
        if param.name in ("rank", "rank_ratio") and param.default is None:
            continue
        values[param.name] = param.default if param.default is not None else 1.0 / n_experts
    _apply(values, params.params.given())
    return values


def default_rank_rule(values: Mapping[str, int | float | None], shape: tuple[int, ...], n_experts: int) -> int:
    """The rank of the low-rank part: an int rank or a ratio of the smaller side (0 when neither is set)."""
    return resolve_rank(values.get("rank"), values.get("rank_ratio"), shape)  # type: ignore[arg-type]


def _matches_tensor(override: Override, info: TensorInfo, pattern: re.Pattern[str] | None) -> bool:
    select = override.select
    if select.stack is not None and info.stack != select.stack:
        return False
    span = select.layer_range()
    if span is not None and (info.layer is None or not span[0] <= info.layer <= span[1]):
        return False
    if select.module is not None and info.module not in select.module:
        return False
    if select.kind is not None and info.kind not in select.kind:
        return False
    return pattern is None or pattern.fullmatch(info.name) is not None


def resolve_plan(
    params: MergeParams,
    tensor_infos: Mapping[str, TensorInfo],
    expert_names: Sequence[str],
    rules: Sequence[MergeRule] = DEFAULT_RULES,
) -> MergePlan:
    """Concrete rank, density, k, scale and seed for every (tensor, expert) pair.

    `tensor_infos` must carry shapes (`describe_state`). Raises UserError for a tensor no rule covers
    (or two rules do), an eligible tensor that is not 2-D, an override naming an unknown expert, and an
    override that selects nothing (a typo or a layer the model lacks).
    """
    method = get_method(params.method)
    experts = tuple(expert_names)
    if not experts:
        raise UserError("a merge needs at least one expert")
    if len(set(experts)) != len(experts):
        raise UserError(f"expert names must be unique, got {list(experts)}")
    treatments = assign_treatments(tensor_infos, rules)

    base_values = effective_globals(params, len(experts))

    patterns = [re.compile(o.select.tensor) if o.select.tensor is not None else None for o in params.overrides]
    used = [False] * len(params.overrides)
    for index, override in enumerate(params.overrides):
        for name in override.select.expert or ():
            if name not in experts:
                raise UserError(
                    f"override #{index + 1} selects expert {name!r}, which is not among the experts "
                    f"({', '.join(experts)})"
                )

    tensors: dict[str, TensorPlan] = {}
    for name, info in tensor_infos.items():
        treatment = treatments[name]
        if treatment == "lowrank_sparse" and len(info.shape) != 2:
            raise UserError(
                f"tensor {name!r} has shape {info.shape}; the lowrank_sparse treatment needs a 2-D matrix"
            )
        hits = [
            (index, override)
            for index, override in enumerate(params.overrides)
            if _matches_tensor(override, info, patterns[index])
        ]
        per_expert: list[dict[str, int | float | None]] = []
        for expert in experts:
            values = dict(base_values)
            for index, override in hits:
                if override.select.expert is None or expert in override.select.expert:
                    used[index] = True
                    _apply(values, override.set.given())
            per_expert.append(values)
        tensors[name] = _tensor_plan(method, name, treatment, info, per_expert, len(experts))

    for index, was_used in enumerate(used):
        if not was_used:
            raise UserError(
                f"override #{index + 1} ({params.overrides[index].select.describe()}) selects no tensor of the model"
            )
    return MergePlan(method=method.name, experts=experts, tensors=tensors)


def _tensor_plan(
    method: MergeMethod,
    name: str,
    treatment: str,
    info: TensorInfo,
    per_expert: Sequence[Mapping[str, int | float | None]],
    n_experts: int,
) -> TensorPlan:
    """One tensor's plan from each expert's resolved values, as the method's declaration says: the scale
    of dense tensors is the method's `dense_scale`; ranks exist for eligible matrices only; kept entries
    for eligible matrices, and for every tensor when the method trims element-wise."""
    matrix = treatment == "lowrank_sparse"
    trims = method.uses_density and (matrix or method.elementwise)
    rank_rule = method.rank_rule or (default_rank_rule if method.uses_rank else None)
    scale_name = "scale" if matrix else method.dense_scale
    return TensorPlan(
        name,
        treatment,
        scales=tuple(float(values[scale_name]) for values in per_expert),  # type: ignore[arg-type]
        ranks=tuple(
            rank_rule(values, info.shape, n_experts) if matrix and rank_rule is not None else 0
            for values in per_expert
        ),
        densities=tuple(float(values["density"]) for values in per_expert),  # type: ignore[arg-type]
        keeps=tuple(
            keep_count(float(values["density"]), info.numel) if trims else info.numel  # type: ignore[arg-type]
            for values in per_expert
        ),
        seeds=tuple(int(values["seed"]) for values in per_expert),  # type: ignore[arg-type]
        values={
            extra: tuple(float(values[extra]) for values in per_expert)  # type: ignore[arg-type]
            for extra in method.extra_params
        },
    )


def _apply(values: dict[str, int | float | None], given: Mapping[str, int | float]) -> None:
    """Overlay `given`; a rank in either form replaces the inherited rank in the other form."""
    if "rank" in given:
        values["rank_ratio"] = None
    if "rank_ratio" in given:
        values["rank"] = None
    values.update(given)
