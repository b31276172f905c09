"""The Tune trainable: a light function (it reserves ~0 CPU) that leases a worker actor for the trial's
life, runs the trial's merge on it rung after rung (dev subsets of growing size) and reports the objective
and the per-cell metrics once per rung, for ASHA and OptunaSearch. The heavy state stays in the workers.

Tune starts the trial function in a fresh Ray worker process once per search (then reuses it), while the
workers wait: whatever this module and the trial config import is paid there, inside Tune's fit. So this
module imports nothing of lors_search's maths (torch, optuna), the trial's MergeParams travel `Packed`
(unpickled only by the worker and the driver), and the worker scores each rung (`Scoring`,
lors_search.runtime.trial_call): the trial process imports Ray and two light modules (1.5 s instead of 3.7 s
on the 2-core machine under load).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FIDELITY_KEY = "fidelity_level"
MERGE_KEY = "merge"  # a trial config's MergeParams (Packed), what its worker merges and its record keeps


@dataclass(frozen=True)
class TrialContext:
    """What every trial needs besides its parameters (passed once with tune.with_parameters).

    names: the objectives, first = the searched one; rungs: dev clips per language at each rung (resolved ints);
    levels: the ASHA time value of each rung (reduction_factor ** k, so ASHA's milestones fall exactly on the
    rungs); scoring: the run's `Scoring`, Packed (the workers unpack it; the trial process never does);
    namespace: the Ray namespace of the search session's actors (lors_search.runtime.names).
    """

    names: tuple[str, ...]
    rungs: tuple[int, ...]
    levels: tuple[float, ...]
    scoring: Any
    namespace: str


def fidelity_levels(n_rungs: int, reduction_factor: int) -> tuple[float, ...]:
    return tuple(float(reduction_factor**k) for k in range(n_rungs))


def trial_result(
    names: tuple[str, ...], out: Mapping[str, Any], n: int, level: float, totals: Mapping[str, float]
) -> dict[str, Any]:
    """The dict one rung reports: objectives (first also as `objective`), fidelity, timings and cells."""
    result: dict[str, Any] = {name: float(out["scores"][name]) for name in names}
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


_ACTORS: dict[tuple[str, str], Any] = {}  # (namespace, name) -> handle, per trial process (Tune reuses it)


def _actor(name: str, namespace: str) -> Any:
    """A named actor's handle, looked up once per process: a handle stays valid when its actor restarts."""
    import ray

    key = (namespace, name)
    if key not in _ACTORS:
        _ACTORS[key] = ray.get_actor(name, namespace=namespace)
    return _ACTORS[key]


def run_trial(config: dict[str, Any], context: TrialContext) -> None:
    """Tune function trainable. `config` comes from FidelityOptunaSearch: {"optuna_trial", "params", "merge"}."""
    import ray
    from ray import tune

    from lors_search.runtime.names import POOL_NAME, worker_actor_name

    started = time.perf_counter()
    trial_id = tune.get_context().get_trial_id()
    pool = _actor(POOL_NAME, context.namespace)
    index = ray.get(pool.acquire.remote(trial_id))
    try:
        worker = _actor(worker_actor_name(index), context.namespace)
        totals = {"merge": 0.0, "eval": 0.0, "rows": 0.0}
        for n, level in zip(context.rungs, context.levels, strict=True):
            out = ray.get(worker.run.remote(config[MERGE_KEY], n, context.scoring))
            totals["merge"] += out["merge_seconds"]
            totals["eval"] += out["eval_seconds"]
            totals["rows"] += out["rows_decoded"]
            result = trial_result(context.names, out, n, level, totals)
            result["trial_seconds"] = time.perf_counter() - started  # lease, calls and scoring included
            tune.report(result)
    finally:
        pool.release.remote(trial_id)
