"""Search spaces: a YAML file -> a validated, frozen `SearchSpace` (what is merged, which per-group rank /
density / scale ranges are searched, seeds, objective, budget, fidelity) -> a `CompiledSpace` built once at
load (groups, parameters, the Optuna define-by-run sampler, seed points, max ranks, the objective's `Scorer`
and the picklable `ParamMapper` flat params -> MergeParams). No Ray here. Schema: docs/search-space.md.
"""

from lors_search.space.compiled import CompiledSpace
from lors_search.space.convert import ParamMapper
from lors_search.space.groups import Group
from lors_search.space.loading import load_search_space, read_space_file, resolved_yaml, space_from_dict, space_from_raw
from lors_search.space.objective import Scorer, references_at
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
    "CompiledSpace",
    "DataEntry",
    "ExpertEntry",
    "Fidelity",
    "Group",
    "GroupRanges",
    "Groups",
    "Objective",
    "ParamDef",
    "ParamMapper",
    "ParamRange",
    "PointError",
    "Scorer",
    "SearchSpace",
    "Searcher",
    "SeedSpec",
    "SpaceSampler",
    "StackGroups",
    "load_search_space",
    "paper_rank",
    "read_base_shape",
    "read_space_file",
    "references_at",
    "resolved_yaml",
    "shipped_space",
    "shipped_space_names",
    "space_from_dict",
    "space_from_raw",
]
