"""The plug-in contract of a merge method: what a method declares once, and the types it is called with.

A method is one `MergeMethod`: its per-tensor functions and its parameters (`Param`: name, type, bounds,
default, whether it may differ per expert, the range a search tries by default). Everything else derives
from that declaration: the validated `ParamValues` of merge configs, the per-tensor `TensorPlan`, the CLI
flags and the search-space ranges (the pattern of mergekit's `easy_define` and PEFT's merge utilities).
Bottom of `merging/`: imports nothing of the package but `errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from torch import Tensor

if TYPE_CHECKING:
    from lors_search.merging.workspace import Workspace


class ExpertMatrix(NamedTuple):
    """One expert's view of one tensor: task vector D and, for eligible matrices, its factors (U diag(s), V^T)
    up to the largest rank prepared (empty otherwise) and, for methods that need it (RegMean), the mean Gram
    matrix X^T X / n of the layer's inputs in this expert (None when not prepared)."""

    delta: Tensor
    us: Tensor
    vh: Tensor
    gram: Tensor | None = None


@dataclass(frozen=True, slots=True)
class TensorPlan:
    """Resolved numbers for one tensor, one entry per expert (in the plan's expert order).

    `scales` are the weights of the tensor's merge (for `dense` tensors, those of the method's dense rule);
    `ranks` the rank each expert's factors are sliced at; `keeps` the entries kept (k = floor(density * numel));
    `values` every other declared parameter of the method, by name. `base` tensors use none of it.
    """

    name: str
    treatment: str
    scales: tuple[float, ...]
    ranks: tuple[int, ...]
    densities: tuple[float, ...]
    keeps: tuple[int, ...]
    seeds: tuple[int, ...]
    values: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def value(self, name: str, expert: int = 0) -> float:
        """A method-specific parameter of one expert (KeyError names the parameter when it was not resolved)."""
        try:
            return self.values[name][expert]
        except KeyError:
            raise KeyError(f"parameter {name!r} was not resolved for tensor {self.name!r}") from None


# out += merged task vector of one tensor, from every expert's view of it.
TensorMerge = Callable[[Sequence[ExpertMatrix], TensorPlan, Tensor, "Workspace"], None]
# The rank each expert's factors must serve for a matrix of `shape`, from its resolved values (None = no rank).
RankRule = Callable[[Mapping[str, Any], tuple[int, ...], int], int]

Scope = Literal["all", "matrix"]


@dataclass(frozen=True)
class SearchRange:
    """The range a search space tries for a parameter unless the space gives its own."""

    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class Param:
    """One parameter of a merge method.

    `low`/`high` are inclusive bounds (None: unbounded); `default` None means "resolved by the method"
    (the scale's 1 / number of experts); `per_expert`: overrides may set it per expert and a search may
    search it per expert; `scope`: whether it affects the eligible matrices only or every tensor;
    `search`: the range a search space uses when the space names the parameter without a range.
    A name means the same thing in every method that declares it (same type and bounds).
    """

    name: str
    type: type
    help: str
    low: float | None = None
    high: float | None = None
    default: float | None = None
    per_expert: bool = True
    scope: Scope = "matrix"
    search: SearchRange | None = None

    def with_default(self, default: float | None, help: str | None = None) -> Param:
        """The same parameter with another default (and help text) for one method."""
        return replace(self, default=default, help=help or self.help)

    def same_meaning(self, other: Param) -> bool:
        return (self.type, self.low, self.high) == (other.type, other.low, other.high)


@dataclass(frozen=True)
class MethodCost:
    """What a method computes once per expert (prepared) and on every merge (per_merge), in words, for the
    CLI, the docs and benchmarks/merge_speed.py."""

    prepared: str
    per_merge: str


@dataclass(frozen=True)
class MergeMethod:
    """A registered merge method.

    merge_matrix(experts, plan, out, workspace) adds the merged task vector of one eligible matrix to `out`
    (fp32); merge_dense does the same for the tensors outside the eligible matrices (embeddings, biases,
    norms, convolutions): by default task arithmetic with `plan.scales`. `dense_scale` names the parameter
    whose values are the dense tensors' scales (`scale` unless the method scales them separately);
    `elementwise`: the method's trimming (density) applies to dense tensors too, as TIES and DARE do per their
    papers. `rank_rule` gives the rank each expert's factors must serve (what `prepare_expert` keeps).
    """

    name: str
    paper: str
    summary: str
    parameters: tuple[Param, ...]
    merge_matrix: TensorMerge
    cost: MethodCost
    merge_dense: TensorMerge | None = None
    dense_scale: str = "scale"
    elementwise: bool = False
    rank_rule: RankRule | None = None
    needs: tuple[str, ...] = ()  # extra prepared inputs, e.g. ("gram",) for RegMean

    def __post_init__(self) -> None:
        names = [param.name for param in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError(f"merge method {self.name!r} declares a parameter twice: {names}")
        if "scale" not in names:
            raise ValueError(f"merge method {self.name!r} must declare a scale")
        if self.dense_scale not in names:
            raise ValueError(f"merge method {self.name!r}: dense_scale {self.dense_scale!r} is not a parameter")

    @property
    def params(self) -> tuple[str, ...]:
        """The names of the declared parameters, in declaration order."""
        return tuple(param.name for param in self.parameters)

    param_names = params

    def param(self, name: str) -> Param:
        for param in self.parameters:
            if param.name == name:
                return param
        raise KeyError(f"merge method {self.name!r} takes no parameter {name!r}")

    @property
    def defaults(self) -> Mapping[str, float]:
        """Declared defaults (parameters whose default the method resolves itself are left out)."""
        return {param.name: param.default for param in self.parameters if param.default is not None}

    @property
    def default_scale(self) -> float | None:
        """The scale's declared default; None means 1 / number of experts."""
        return self.param("scale").default

    @property
    def uses_rank(self) -> bool:
        return "rank" in self.param_names

    @property
    def uses_density(self) -> bool:
        return "density" in self.param_names

    @property
    def extra_params(self) -> tuple[str, ...]:
        """Parameters beyond the shared ones the plan resolves into dedicated fields."""
        return tuple(name for name in self.param_names if name not in PLAN_FIELDS)


# Parameters with a dedicated TensorPlan field; every other parameter goes into TensorPlan.values.
PLAN_FIELDS = ("rank", "rank_ratio", "density", "scale", "seed")


# The shared parameters: one meaning everywhere, declared once, taken by a method with its own default.
RANK = Param("rank", int, "rank r of the low-rank part (capped at the matrix's smaller side)", low=0)
RANK_RATIO = Param(
    "rank_ratio",
    float,
    "rank as a fraction of the matrix's smaller side: r = max(1, floor(ratio * side)), 0 -> 0",
    low=0.0,
    high=1.0,
    search=SearchRange(0.005, 1.0, log=True),
)
DENSITY = Param(
    "density",
    float,
    "kept fraction rho: k = floor(rho * numel) entries survive",
    low=0.0,
    high=1.0,
    search=SearchRange(0.02, 1.0, log=True),
)
SCALE = Param(
    "scale",
    float,
    "lambda, the weight of the expert's task vector in the sum",
    search=SearchRange(0.05, 1.0, log=True),
)
SEED = Param("seed", int, "seed of the random drop masks", low=0, default=0, per_expert=False, scope="all")
DENSE_SCALE = Param(
    "dense_scale",
    float,
    "weight of each expert's task vector on the tensors outside the eligible matrices (embeddings, biases, "
    "norms, convolutions): plain task arithmetic there; default 1 / number of experts",
    scope="all",
    search=SearchRange(0.05, 1.0, log=True),
)
