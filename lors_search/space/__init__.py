"""Search spaces: a YAML file -> a validated, frozen `SearchSpace` (what is merged, which per-group rank /
density / scale ranges are searched, seeds, objective, budget, fidelity) -> an Optuna define-by-run sampler,
seed points, merge configs and objective scores. No Ray here. Schema: docs/search-space.md.
"""

from lors_search.space.convert import max_ranks, merge_config, merge_params
from lors_search.space.groups import Group
from lors_search.space.loading import load_search_space, resolved_yaml, space_from_dict
from lors_search.space.objective import check_references, references_at, score
from lors_search.space.parameters import ParamDef, PointError
from lors_search.space.sampler import SpaceSampler
from lors_search.space.schema import (
    OBJECTIVE_MODES,
    Budget,
    DataEntry,
    ExpertEntry,
    Fidelity,
    GroupRanges,
    Groups,
    Objective,
    ParamRange,
    Searcher,
    SearchSpace,
    SeedSpec,
    StackGroups,
)
from lors_search.space.seeds import paper_rank
from lors_search.space.shape import BaseShape, read_base_shape
from lors_search.space.shipped import shipped_space, shipped_space_names

__all__ = [
    "OBJECTIVE_MODES",
    "BaseShape",
    "Budget",
    "DataEntry",
    "ExpertEntry",
    "Fidelity",
    "Group",
    "GroupRanges",
    "Groups",
    "Objective",
    "ParamDef",
    "ParamRange",
    "PointError",
    "SearchSpace",
    "Searcher",
    "SeedSpec",
    "SpaceSampler",
    "StackGroups",
    "check_references",
    "load_search_space",
    "max_ranks",
    "merge_config",
    "merge_params",
    "paper_rank",
    "read_base_shape",
    "references_at",
    "resolved_yaml",
    "score",
    "shipped_space",
    "shipped_space_names",
    "space_from_dict",
]
