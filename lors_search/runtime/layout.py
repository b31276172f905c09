"""How the runtime uses a cluster: how many worker actors, and what each actor and each Tune trial reserves.

One worker per GPU when the cluster has GPUs (it reserves 0.8 of its GPU; the expert actors share the other
0.2, fractional), else one per slice of CPUs. A Tune trial is a light function that only leases a worker and
forwards configs, so it reserves TRIAL_CPUS; each worker reserves that much less than its threads, so the
trial that leases it always fits beside it (concurrency = number of workers).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from lors_search.errors import UserError

TRIAL_CPUS = 0.01
WORKER_GPU_SHARE = 0.8  # of each GPU; the rest is for the expert actors placed on it
CPU_THREADS_PER_WORKER = 4  # default CPU slice when --workers is not given


@dataclass(frozen=True)
class Layout:
    workers: int
    worker_threads: int  # torch threads of each worker
    worker_cpus: float  # logical CPUs each worker reserves
    worker_gpus: float
    expert_cpus: float
    expert_gpus: float
    trial_cpus: float = TRIAL_CPUS

    def describe(self) -> str:
        device = f"{self.worker_gpus:g} GPU + " if self.worker_gpus else ""
        return f"{self.workers} worker(s) x ({device}{self.worker_threads} CPU thread(s))"


def _floor4(value: float) -> float:
    return math.floor(value * 10_000) / 10_000  # Ray's resource precision


def plan_layout(
    resources: Mapping[str, float], n_experts: int, workers: int | None = None, cpus: float | None = None
) -> Layout:
    """The layout for a cluster with `resources` (ray.cluster_resources()) and `n_experts` experts. `cpus`: use
    at most that many of the cluster's CPUs (`--cpus`), leaving the rest to another search on the cluster."""
    if cpus is not None and cpus < 1:
        raise UserError(f"--cpus must be at least 1, got {cpus:g}")
    total = float(resources.get("CPU", 0.0))
    cpus = total if cpus is None else min(total, float(cpus))
    gpus = int(resources.get("GPU", 0.0))
    if workers is not None and workers < 1:
        raise UserError(f"--workers must be at least 1, got {workers}")
    if gpus >= 1:
        count = workers or gpus
        per_gpu = math.ceil(count / gpus)
        threads = max(1, int(cpus // count)) if cpus >= count else 1
        return Layout(
            workers=count,
            worker_threads=threads,
            worker_cpus=max(0.0, min(threads, cpus / count) - TRIAL_CPUS) if cpus else 0.0,
            worker_gpus=_floor4(WORKER_GPU_SHARE / per_gpu),
            expert_cpus=0.0,
            expert_gpus=_floor4((1.0 - WORKER_GPU_SHARE) / math.ceil(n_experts / gpus)),
        )
    if cpus < 1:
        raise UserError("the Ray cluster has no CPU to run the search's workers on")
    count = workers or max(1, int(cpus // CPU_THREADS_PER_WORKER))
    if count > cpus:
        raise UserError(f"--workers {count} needs at least {count} CPUs; the cluster has {cpus:g}")
    threads = max(1, int(cpus // count))
    return Layout(
        workers=count,
        worker_threads=threads,
        worker_cpus=threads - TRIAL_CPUS,
        worker_gpus=0.0,
        expert_cpus=0.0,  # busy only while preparing, before any trial runs
        expert_gpus=0.0,
    )
