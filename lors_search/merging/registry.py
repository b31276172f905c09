"""The merge methods by name: each one's per-matrix function, parameter schema, defaults and paper.

The single source of truth for the CLI flags, the merge YAML and the search space. Methods act on the
tensors the merge rules mark `lowrank_sparse`; every other tensor is merged by plain task arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from torch import Tensor

from lors_search.errors import UserError
from lors_search.merging import dare, lors, task_arithmetic, ties

if TYPE_CHECKING:
    from lors_search.merging.plan import TensorPlan
    from lors_search.merging.prepared import ExpertMatrix
    from lors_search.merging.workspace import Workspace

MatrixMerge = Callable[["Sequence[ExpertMatrix]", "TensorPlan", Tensor, "Workspace"], None]

LORS_PAPER = (
    "Zhao, Sun and Zhang, Low-Rank and Sparse Model Merging for Multi-Lingual Speech Recognition and "
    "Translation, arXiv 2502.17380"
)


@dataclass(frozen=True)
class ParamSpec:
    """One merge parameter: its type, bounds (inclusive, None = unbounded) and meaning."""

    name: str
    type: type
    low: float | None
    high: float | None
    help: str


PARAMS: Mapping[str, ParamSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            ParamSpec("rank", int, 0, None, "rank r of the low-rank part (capped at the matrix's smaller side)"),
            ParamSpec(
                "rank_ratio",
                float,
                0.0,
                1.0,
                "rank as a fraction of the matrix's smaller side: r = max(1, floor(ratio * side)), 0 -> 0",
            ),
            ParamSpec("density", float, 0.0, 1.0, "kept fraction rho: k = floor(rho * numel) entries survive"),
            ParamSpec("scale", float, None, None, "lambda, the weight of the expert's task vector in the sum"),
            ParamSpec("seed", int, 0, None, "seed of the random drop masks"),
        )
    }
)


@dataclass(frozen=True)
class MergeMethod:
    """A registered merge method.

    merge_matrix(experts, plan, out, workspace) adds the merged task vector of one eligible tensor to
    `out` (fp32); `params` are the names it accepts (`rank` and `rank_ratio` are alternatives);
    `defaults` fill what the user leaves out; `default_scale` None means 1 / number of experts.
    """

    name: str
    merge_matrix: MatrixMerge
    params: tuple[str, ...]
    paper: str
    summary: str
    defaults: Mapping[str, Any] = field(default_factory=dict)
    default_scale: float | None = None

    @property
    def uses_rank(self) -> bool:
        return "rank" in self.params

    @property
    def uses_density(self) -> bool:
        return "density" in self.params


_METHODS: dict[str, MergeMethod] = {}


def register_method(method: MergeMethod) -> MergeMethod:
    """Add a method to the registry (names are unique)."""
    if method.name in _METHODS:
        raise ValueError(f"merge method {method.name!r} is already registered")
    unknown = set(method.params) - set(PARAMS)
    if unknown:
        raise ValueError(f"merge method {method.name!r} declares unknown parameters {sorted(unknown)}")
    _METHODS[method.name] = method
    return method


def method_names() -> tuple[str, ...]:
    return tuple(_METHODS)


def get_method(name: str) -> MergeMethod:
    """The registered method `name`; UserError listing the known ones otherwise."""
    try:
        return _METHODS[name]
    except KeyError:
        raise UserError(f"unknown merge method {name!r} (known: {', '.join(_METHODS)})") from None


for _method in (
    MergeMethod(
        name="task_arithmetic",
        merge_matrix=task_arithmetic.merge_matrix,
        params=("scale",),
        paper="Ilharco et al., Editing Models with Task Arithmetic, ICLR 2023, arXiv 2212.04089",
        summary="theta_0 + sum_i lambda_i tau_i, no pruning",
    ),
    MergeMethod(
        name="ties",
        merge_matrix=ties.merge_matrix,
        params=("density", "scale"),
        paper="Yadav et al., TIES-Merging: Resolving Interference When Merging Models, NeurIPS 2023, "
        "arXiv 2306.01708",
        summary="trim each tau to its top-density entries, elect signs, disjoint mean",
        defaults={"density": 0.2},
        default_scale=1.0,
    ),
    MergeMethod(
        name="dare",
        merge_matrix=dare.merge_matrix,
        params=("density", "scale", "seed"),
        paper="Yu et al., Language Models are Super Mario: Absorbing Abilities from Homologous Models as a "
        "Free Lunch, ICML 2024, arXiv 2311.03099",
        summary="drop entries with probability 1 - density, rescale by 1 / density, then task arithmetic",
        defaults={"density": 0.2, "seed": 0},
    ),
    MergeMethod(
        name="sparse",
        merge_matrix=lors.merge_sparse,
        params=("density", "scale"),
        paper=LORS_PAPER + " (sparse-only ablation)",
        summary="top-k magnitude entries of each tau (k = floor(density * numel))",
        defaults={"density": 0.2},
    ),
    MergeMethod(
        name="lowrank",
        merge_matrix=lors.merge_lowrank,
        params=("rank", "rank_ratio", "scale"),
        paper=LORS_PAPER + " (low-rank-only ablation)",
        summary="rank-r truncated SVD of each tau",
        defaults={"rank_ratio": 0.01},
    ),
    MergeMethod(
        name="lors",
        merge_matrix=lors.merge_lors,
        params=("rank", "rank_ratio", "density", "scale"),
        paper=LORS_PAPER,
        summary="rank-r truncated SVD of each tau plus the top-k magnitude entries of the residual",
        defaults={"rank_ratio": 0.01, "density": 0.2},
    ),
):
    register_method(_method)
