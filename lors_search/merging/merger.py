"""The per-call merge: base plus prepared experts in, merged weights out, with no SVD and no reloading.

`PreparedMerger.merge_into` writes a merge straight into existing tensors (a resident model's parameters),
in their dtype, with fp32 maths; `merge` returns new tensors; `prepare_merger` prepares the experts once,
`merge_state_dicts` is the one-shot path for tensors in memory.
Implements LoRS-Merging (arXiv 2502.17380) and the baselines through the method registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence

import torch
from torch import Tensor

from lors_search.errors import UserError
from lors_search.merging.params import MergeParams
from lors_search.merging.plan import MergePlan, resolve_plan
from lors_search.merging.prepared import PreparedExpert, prepare_expert
from lors_search.merging.registry import get_method
from lors_search.merging.rules import DEFAULT_RULES, MergeRule
from lors_search.merging import task_arithmetic
from lors_search.merging.tensor_names import TIED_ALIASES, describe_state
from lors_search.merging.workspace import Workspace


class PreparedMerger:
    """Holds the base and the prepared experts (all on one device) and merges them per call.

    The base is kept as given (any float dtype); each merged tensor is computed as
    fp32(base) + merged task vector and cast to the target's dtype.
    """

    def __init__(self, base_state: Mapping[str, Tensor], experts: Sequence[PreparedExpert]) -> None:
        if not experts:
            raise UserError("a merge needs at least one expert")
        self.base = dict(base_state)
        self.experts = list(experts)
        self.expert_names = tuple(expert.name for expert in experts)
        self.device = next(iter(self.base.values())).device
        for expert in self.experts:
            if expert.device != self.device:
                raise ValueError(f"expert {expert.name!r} is on {expert.device}, the base on {self.device}")
        self.workspace = Workspace()

    def merge(self, method: str, plan: MergePlan) -> dict[str, Tensor]:
        """New tensors (the base's dtypes and device) holding the merge that `plan` describes."""
        out = {name: torch.empty_like(self.base[name]) for name in plan.tensors}
        self.merge_into(out, method, plan)
        return out

    def merge_into(self, target: MutableMapping[str, Tensor], method: str, plan: MergePlan) -> None:
        """Write the merge into the existing tensors of `target`, in place, in their dtypes.

        `target` maps every planned tensor name to a tensor of the same shape (e.g. `dict(model.
        named_parameters())`); a tied alias (`proj_out.weight`) sharing the embedding's storage is skipped.
        """
        spec = get_method(method)
        self._check(target, method, plan)
        fp32 = torch.float32
        with torch.no_grad():
            for name, tensor_plan in plan.tensors.items():
                destination = target[name]
                base = self.base[name]
                if destination.data_ptr() == base.data_ptr():
                    raise ValueError(f"target tensor {name!r} is the merger's own base tensor; merge elsewhere")
                if tensor_plan.treatment == "base":
                    destination.copy_(base)
                    continue
                direct = (
                    destination.dtype == fp32 and destination.is_contiguous() and destination.device == self.device
                )
                accumulator = destination if direct else self.workspace.buffer(base.shape, self.device, 100)
                accumulator.copy_(base)
                views = [expert.matrix(name) for expert in self.experts]
                if tensor_plan.treatment == "dense":
                    # The method's own rule for tensors outside the eligible matrices (task arithmetic by default).
                    (spec.merge_dense or task_arithmetic.merge_matrix)(views, tensor_plan, accumulator, self.workspace)
                else:
                    spec.merge_matrix(views, tensor_plan, accumulator, self.workspace)
                if not direct:
                    destination.copy_(accumulator)

    def _check(self, target: Mapping[str, Tensor], method: str, plan: MergePlan) -> None:
        if plan.method != method:
            raise ValueError(f"the plan was resolved for method {plan.method!r}, not {method!r}")
        if plan.experts != self.expert_names:
            raise ValueError(f"the plan's experts {list(plan.experts)} differ from the merger's {list(self.expert_names)}")
        if "gram" in get_method(method).needs:
            self._check_grams(method, plan)
        for name in plan.tensors:
            if name not in self.base:
                raise ValueError(f"the plan names tensor {name!r}, which the base lacks")
            if name not in target:
                raise ValueError(f"the target lacks tensor {name!r}")
            if target[name].shape != self.base[name].shape:
                raise ValueError(
                    f"target tensor {name!r} has shape {tuple(target[name].shape)}, "
                    f"the base {tuple(self.base[name].shape)}"
                )
        for name, tensor in target.items():
            if name in plan.tensors:
                continue
            alias_of = TIED_ALIASES.get(name)
            if alias_of is not None and alias_of in target and tensor.data_ptr() == target[alias_of].data_ptr():
                continue
            raise ValueError(f"the target has tensor {name!r}, which the plan does not cover")
        for name, tensor_plan in plan.tensors.items():
            if tensor_plan.treatment == "base":
                continue
            for expert in self.experts:
                if name not in expert.deltas or (tensor_plan.treatment == "lowrank_sparse") != (name in expert.factors):
                    raise ValueError(
                        f"expert {expert.name!r} was prepared under other merge rules than the plan's "
                        f"(tensor {name!r} is {tensor_plan.treatment} in the plan)"
                    )
            if tensor_plan.treatment != "lowrank_sparse":
                continue
            for expert, rank in zip(self.experts, tensor_plan.ranks, strict=True):
                side = min(self.base[name].shape)
                if rank < side and rank > expert.max_rank(name):
                    raise ValueError(
                        f"the plan asks rank {rank} for {name!r} but expert {expert.name!r} was prepared "
                        f"only up to rank {expert.max_rank(name)}"
                    )

    def _check_grams(self, method: str, plan: MergePlan) -> None:
        """Every eligible matrix of the plan has a Gram in every expert (prepared from its train clips)."""
        matrices = [name for name, tensor in plan.tensors.items() if tensor.treatment == "lowrank_sparse"]
        for expert in self.experts:
            missing = [name for name in matrices if name not in expert.grams]
            if missing:
                what = "no Gram matrices" if len(missing) == len(matrices) else f"no Gram matrix for {missing[0]!r}"
                raise UserError(
                    f"{method} needs the Gram matrices of each expert's layer inputs, but expert {expert.name!r} was "
                    f"prepared with {what} (compute them from a corpus's train split, e.g. lors-search merge "
                    "--gram-data DIR)"
                )


def prepare_merger(
    base_state: Mapping[str, Tensor],
    expert_states: Mapping[str, MutableMapping[str, Tensor]],
    rules: Sequence[MergeRule] = DEFAULT_RULES,
    max_ranks: int | Mapping[str, int] = 0,
    device: torch.device | str | None = None,
    grams: Mapping[str, Mapping[str, Tensor]] | None = None,
    *,
    release: bool = False,
    progress: Callable[[str], None] | None = None,
) -> PreparedMerger:
    """The base moved to `device` (default: the base's) and every expert prepared there (`prepare_expert`: task
    vectors, SVD factors up to `max_ranks`, the Grams `grams` gives it), ready to merge. `release`: clear each
    expert's state dict once prepared (its task vector is all a merge needs), so that at most one expert's
    weights and task vectors are held twice. `progress` is called with each expert's name before its turn."""
    rules = tuple(rules)
    target = torch.device(device) if device is not None else next(iter(base_state.values())).device
    base = {name: tensor.to(target) for name, tensor in base_state.items()}
    prepared = []
    for name, state in expert_states.items():
        if progress is not None:
            progress(name)
        prepared.append(
            prepare_expert(base, state, rules, max_ranks, target, name=name, grams=(grams or {}).get(name))
        )
        if release:
            state.clear()
    return PreparedMerger(base, prepared)


def merge_state_dicts(
    base_state: Mapping[str, Tensor],
    expert_states: Mapping[str, Mapping[str, Tensor]],
    params: MergeParams,
    rules: Sequence[MergeRule] = DEFAULT_RULES,
    device: torch.device | str | None = None,
    grams: Mapping[str, Mapping[str, Tensor]] | None = None,
) -> dict[str, Tensor]:
    """One-shot merge of tensors in memory: resolve the plan, prepare each expert (SVD up to the ranks asked),
    merge. `lors_search.merging.service.MergeService` is the same path from checkpoints on disk.

    `expert_states` maps expert names to state dicts with the base's tensor names. `grams` maps expert names
    to their mean Gram matrices by tensor name (methods that need them: RegMean). The result has the
    base's dtypes, on `device` (default: the base's).
    """
    rules = tuple(rules)
    plan = resolve_plan(params, describe_state(base_state), list(expert_states), rules)
    merger = prepare_merger(base_state, expert_states, rules, plan.max_ranks(), device, grams)  # type: ignore[arg-type]
    return merger.merge(params.method, plan)
