"""Merging: pure tensor maths of LoRS-Merging (arXiv 2502.17380) and the baselines, per-tensor parameter
resolution, the method registry, and the prepare-once / merge-many engine. No I/O, no Ray; the one module
that reads checkpoints, `merging.service` (load, validate, prepare, merge), is not imported here.
"""

from lors_search.merging.lowrank import lowrank_part, svd_factors, truncated_svd
from lors_search.merging.merger import PreparedMerger, merge_state_dicts, prepare_merger
from lors_search.merging.params import MergeParams, Override, ParamValues, Selector
from lors_search.merging.plan import MergePlan, TensorPlan, resolve_plan, resolve_rank
from lors_search.merging.prepared import ExpertMatrix, PreparedExpert, prepare_expert
from lors_search.merging.registry import PARAMS, MergeMethod, ParamSpec, get_method, method_names, register_method
from lors_search.merging.rules import DEFAULT_RULES, TREATMENTS, MergeRule, assign_treatments
from lors_search.merging.tensor_names import TIED_ALIASES, TensorInfo, describe_state, describe_tensor
from lors_search.merging.topk import keep_count, topk_magnitude, topk_mask_

__all__ = [
    "DEFAULT_RULES",
    "PARAMS",
    "TIED_ALIASES",
    "TREATMENTS",
    "ExpertMatrix",
    "MergeMethod",
    "MergeParams",
    "MergePlan",
    "MergeRule",
    "Override",
    "ParamSpec",
    "ParamValues",
    "PreparedExpert",
    "PreparedMerger",
    "Selector",
    "TensorInfo",
    "TensorPlan",
    "assign_treatments",
    "describe_state",
    "describe_tensor",
    "get_method",
    "keep_count",
    "lowrank_part",
    "merge_state_dicts",
    "method_names",
    "prepare_expert",
    "prepare_merger",
    "register_method",
    "resolve_plan",
    "resolve_rank",
    "svd_factors",
    "topk_magnitude",
    "topk_mask_",
    "truncated_svd",
]
