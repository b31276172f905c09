"""The Tune trainable: a light function (it reserves ~0 CPU) that leases a worker actor for the trial's
life, runs the trial's merge on it rung after rung (dev subsets of growing size) and reports the objective
and the per-cell metrics once per rung, for ASHA and OptunaSearch. The heavy state stays in the workers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lors_search.search.searcher import FIDELITY_KEY, MERGE_KEY
from lors_search.space.objective import Scorer


@dataclass(frozen=True)
class TrialContext:
    """What every trial needs besides its parameters (passed once with tune.with_parameters).

    scorer: the space's objective; rungs: dev clips per language at each rung (resolved ints); levels: the
    ASHA time value of each rung (reduction_factor ** k, so ASHA's milestones fall exactly on the rungs);
    references: per rung (the int rung as key), the base and expert cells that the objective needs;
    namespace: the Ray namespace of the search session's actors (lors_search.runtime.names).
    """

    scorer: Scorer
    rungs: tuple[int, ...]
    levels: tuple[float, ...]
    references: Mapping[int, Any]
    namespace: str


def fidelity_levels(n_rungs: int, reduction_factor: int) -> tuple[float, ...]:
    return tuple(float(reduction_factor**k) for k in range(n_rungs))


def trial_result(
    context: TrialContext, out: Mapping[str, Any], n: int, level: float, totals: Mapping[str, float]
) -> dict[str, Any]:
    """The dict one rung reports: objectives (first also as `objective`), fidelity, timings and cells."""
    scores = context.scorer(out["cells"], context.references, n)
    names = context.scorer.names
    result: dict[str, Any] = {name: float(scores[name]) for name in names}
    first = result[names[0]]
    result["objective"] = first if math.isfinite(first) else float("nan")
    result.update(
        {
            "n_per_language": n,
            FIDELITY_KEY: level,
            "merge_seconds": totals["merge"],
            "eval_seconds": totals["eval"],
            "rows_decoded": int(totals["rows"]),
            "worker": out.get("worker"),
            "cells": {cell: dict(metrics) for cell, metrics in out["cells"].items()},
        }
    )
    return result


def run_trial(config: dict[str, Any], context: TrialContext) -> None:
    """Tune function trainable. `config` comes from FidelityOptunaSearch: {"optuna_trial", "params", "merge"}."""
    import ray
    from ray import tune

    from lors_search.runtime.names import POOL_NAME, worker_actor_name

    started = time.perf_counter()
    trial_id = tune.get_context().get_trial_id()
    pool = ray.get_actor(POOL_NAME, namespace=context.namespace)
    index = ray.get(pool.acquire.remote(trial_id))
    try:
        worker = ray.get_actor(worker_actor_name(index), namespace=context.namespace)
        totals = {"merge": 0.0, "eval": 0.0, "rows": 0.0}
        for n, level in zip(context.rungs, context.levels, strict=True):
            out = ray.get(worker.run.remote(config[MERGE_KEY], n))
            totals["merge"] += out["merge_seconds"]
            totals["eval"] += out["eval_seconds"]
            totals["rows"] += out["rows_decoded"]
            result = trial_result(context, out, n, level, totals)
            result["trial_seconds"] = time.perf_counter() - started  # lease, calls and scoring included
            tune.report(result)
    finally:
        pool.release.remote(trial_id)
