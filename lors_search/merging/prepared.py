"""Prepared experts: what each expert contributes to every merge, computed once.

For the per-call merge of LoRS-Merging (arXiv 2502.17380): the fp32 task vector tau = theta_i - theta_0
of every tensor, and for each low-rank/sparse-eligible matrix its SVD factors up to the largest rank any
merge will ask for; for methods that need them (RegMean, arXiv 2212.09849), the mean Gram matrix of every
eligible linear layer's inputs. Plain tensors in plain containers, so an expert can travel through Ray's
object store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from lors_search.errors import UserError
from lors_search.merging.lowrank import svd_factors
from lors_search.merging.method import ExpertMatrix
from lors_search.merging.rules import DEFAULT_RULES, MergeRule, assign_treatments


@dataclass
class PreparedExpert:
    """An expert ready for repeated merging.

    deltas: fp32 task vector of every tensor whose treatment is not `base`.
    factors: for every `lowrank_sparse` tensor, (U[:, :r] * s[:r], Vh[:r]) with r = its max rank.
    grams: for methods that need them (RegMean), the mean Gram X^T X / n (in, in) of every eligible linear
    layer's inputs in this expert; layers that read one input (q/k/v of an attention) share one tensor.
    """

    name: str
    deltas: dict[str, Tensor]
    factors: dict[str, tuple[Tensor, Tensor]] = field(default_factory=dict)
    grams: dict[str, Tensor] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return next(iter(self.deltas.values())).device

    def max_rank(self, tensor: str) -> int:
        """Largest rank this expert can serve for `tensor` without a new SVD."""
        return self.factors[tensor][0].shape[1]

    def matrix(self, tensor: str) -> ExpertMatrix:
        """This expert's view of `tensor`: its task vector and, for an eligible matrix, its factors."""
        delta = self.deltas[tensor]
        gram = self.grams.get(tensor)
        found = self.factors.get(tensor)
        if found is None:
            empty = delta.new_zeros((0,))
            return ExpertMatrix(delta, empty, empty, gram)
        return ExpertMatrix(delta, *found, gram)

    def to(self, device: torch.device | str) -> PreparedExpert:
        """A copy on another device (e.g. a worker's GPU); Grams shared by several layers stay shared."""
        return PreparedExpert(
            name=self.name,
            deltas={name: tensor.to(device) for name, tensor in self.deltas.items()},
            factors={name: (us.to(device), vh.to(device)) for name, (us, vh) in self.factors.items()},
            grams=moved_shared(self.grams, device),
        )


def moved_shared(tensors: Mapping[str, Tensor], device: torch.device | str) -> dict[str, Tensor]:
    """`tensors` on `device` (fp32), each distinct tensor moved once: names that shared one tensor share its
    copy (q/k/v Grams of one attention are one tensor; three copies would triple the largest prepared state)."""
    moved: dict[int, Tensor] = {}
    out = {}
    for name, tensor in tensors.items():
        found = moved.get(id(tensor))
        if found is None:
            found = moved[id(tensor)] = tensor.to(device, torch.float32)
        out[name] = found
    return out


def unique_tensors(tensors: Mapping[str, Tensor] | Sequence[Tensor]) -> list[Tensor]:
    """The distinct tensor objects among `tensors` (for byte counts of shared Grams)."""
    values = tensors.values() if isinstance(tensors, Mapping) else tensors
    return list({id(tensor): tensor for tensor in values}.values())


def prepare_expert(
    base_state: Mapping[str, Tensor],
    expert_state: Mapping[str, Tensor],
    rules: tuple[MergeRule, ...] | list[MergeRule] = DEFAULT_RULES,
    max_rank: int | Mapping[str, int] = 0,
    device: torch.device | str | None = None,
    *,
    name: str = "expert",
    grams: Mapping[str, Tensor] | None = None,
) -> PreparedExpert:
    """Compute an expert's task vectors (fp32) and, per eligible matrix, SVD factors up to `max_rank`.

    `max_rank` is one int for every eligible matrix or a per-tensor mapping (missing tensors: 0, i.e.
    no SVD at all, as for `sparse`, `ties`, `dare`, `task_arithmetic`); it is capped at the smaller side.
    The work runs on `device` (default: the base's), where the result stays. This is the expensive step:
    a full SVD per eligible matrix; do it once per expert, not per merge. `grams`: the expert's mean Gram
    matrices by tensor name (`lors_search.whisper.gram.merge_grams`), kept for the eligible matrices only
    and moved to `device` (shared tensors stay shared).
    """
    if set(base_state) != set(expert_state):
        missing = sorted(set(base_state) - set(expert_state))
        extra = sorted(set(expert_state) - set(base_state))
        what = f"lacks {missing[0]!r}" if missing else f"has extra tensor {extra[0]!r}"
        raise UserError(f"expert {name!r} {what} compared with the base")
    treatments = assign_treatments(base_state, rules)
    target = torch.device(device) if device is not None else next(iter(base_state.values())).device
    deltas: dict[str, Tensor] = {}
    factors: dict[str, tuple[Tensor, Tensor]] = {}
    for tensor_name, treatment in treatments.items():
        if treatment == "base":
            continue
        base = base_state[tensor_name]
        theirs = expert_state[tensor_name]
        if base.shape != theirs.shape:
            raise UserError(
                f"expert {name!r} tensor {tensor_name!r} has shape {tuple(theirs.shape)}, "
                f"the base has {tuple(base.shape)}"
            )
        delta = theirs.to(target, torch.float32) - base.to(target, torch.float32)
        deltas[tensor_name] = delta
        if treatment == "lowrank_sparse":
            if delta.ndim != 2:
                raise UserError(
                    f"tensor {tensor_name!r} has shape {tuple(delta.shape)}; the lowrank_sparse treatment "
                    "needs a 2-D matrix"
                )
            wanted = max_rank if isinstance(max_rank, int) else int(max_rank.get(tensor_name, 0))
            if wanted < 0:
                raise UserError(f"max rank for {tensor_name!r} must be >= 0, got {wanted}")
            factors[tensor_name] = svd_factors(delta, wanted)
    kept = {} if grams is None else {key: gram for key, gram in grams.items() if key in factors}
    for key, gram in kept.items():
        cols = deltas[key].shape[1]
        if tuple(gram.shape) != (cols, cols):
            raise UserError(
                f"expert {name!r}: the Gram matrix of {key!r} has shape {tuple(gram.shape)}, the layer takes "
                f"{cols} inputs"
            )
    return PreparedExpert(name=name, deltas=deltas, factors=factors, grams=moved_shared(kept, target))
