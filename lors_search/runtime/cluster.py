"""Start and stop the search's actors on the connected Ray cluster: one expert actor per expert, the worker
actors, the lease pool, all named in the driver session's own Ray namespace (lors_search.runtime.names), so
two searches share a cluster without meeting; then the reference scores (base and experts, unmerged)
computed by the workers.

Actors restart on failure (`max_restarts`); a restarted worker refetches the experts' factors, a restarted
expert actor recomputes them. Expert actors are pinned round-robin to the nodes that have GPUs (else CPUs);
worker actors are spread by Ray (SPREAD).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lors_search.runtime.layout import Layout
from lors_search.runtime.names import POOL_NAME, expert_actor_name, worker_actor_name
from lors_search.runtime.spec import RuntimeSpec

ACTOR_RESTARTS = 3


@dataclass
class Runtime:
    spec: RuntimeSpec
    layout: Layout
    namespace: str
    experts: dict[str, Any]
    workers: list[Any]
    pool: Any
    expert_info: list[dict[str, Any]] = field(default_factory=list)
    worker_info: list[dict[str, Any]] = field(default_factory=list)

    @property
    def max_per_language(self) -> int:
        return min(info["max_per_language"] for info in self.worker_info)

    def shutdown(self) -> None:
        import ray

        for handle in [self.pool, *self.workers, *self.experts.values()]:
            try:
                ray.kill(handle, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass


def start_runtime(
    spec: RuntimeSpec, layout: Layout, namespace: str, progress: Callable[[str], None] = lambda message: None
) -> Runtime:
    """Create the actors, named in the Ray namespace `namespace` (a `SearchSession`'s), and wait until every
    worker holds the experts' factors."""
    import ray

    from lors_search.runtime.expert_actor import ExpertActor
    from lors_search.runtime.pool import WorkerPool
    from lors_search.runtime.worker_actor import WorkerActor

    started = time.perf_counter()
    _check_free_names(spec, layout, namespace)
    needs = "GPU" if layout.worker_gpus > 0 else "CPU"
    expert_nodes = _nodes_with(needs)
    expert_cls = ray.remote(ExpertActor)
    worker_cls = ray.remote(WorkerActor)
    pool_cls = ray.remote(WorkerPool)
    experts = {
        expert.name: expert_cls.options(
            name=expert_actor_name(expert.name),
            namespace=namespace,
            num_cpus=layout.expert_cpus,
            num_gpus=layout.expert_gpus,
            max_restarts=ACTOR_RESTARTS,
            scheduling_strategy=_pinned(expert_nodes, index),
        ).remote(expert.name, spec.base, expert.path, spec.rules, spec.max_ranks, 1, spec.gram_source(expert))
        for index, expert in enumerate(spec.experts)
    }
    grams = ", Gram matrices of their train clips" if spec.needs_grams else ""
    progress(f"preparing {len(experts)} expert(s) (task vectors and SVD factors{grams}, once)")
    expert_info = _started(list(experts.values()), [f"expert actor {name!r}" for name in experts])
    progress(f"starting {layout.describe()}")
    workers = [
        worker_cls.options(
            name=worker_actor_name(index),
            namespace=namespace,
            num_cpus=layout.worker_cpus,
            num_gpus=layout.worker_gpus,
            max_restarts=ACTOR_RESTARTS,
            scheduling_strategy="SPREAD",  # they reserve resources, so Ray's SPREAD separates them
        ).remote(spec, index, layout.worker_threads, namespace=namespace)
        for index in range(layout.workers)
    ]
    pool = pool_cls.options(name=POOL_NAME, namespace=namespace, num_cpus=0, max_restarts=ACTOR_RESTARTS).remote(
        layout.workers
    )
    worker_info = _started(workers, [f"worker actor {index}" for index in range(len(workers))])
    progress(f"actors ready in {time.perf_counter() - started:.1f} s")
    return Runtime(spec, layout, namespace, experts, workers, pool, expert_info, worker_info)


def _nodes_with(resource: str, minimum: float = 1e-9) -> list[str]:
    """Alive nodes offering at least `minimum` of `resource`, largest first (ties in Ray's order)."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get(resource, 0) >= minimum]
    nodes.sort(key=lambda n: -n["Resources"][resource])
    return [n["NodeID"] for n in nodes]


def _pinned(nodes: list[str], index: int) -> Any:
    """Expert actor `index` is pinned to node `index mod len(nodes)`. They reserve no CPU (or a sliver of a
    GPU), and for such actors both Ray's SPREAD and soft node affinity put every one on the driver's node
    (measured with ray.cluster_utils.Cluster, Ray 2.60). Pinned means an expert whose node is lost is not
    restarted elsewhere."""
    if not nodes:
        return "SPREAD"
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id=nodes[index % len(nodes)], soft=False)


def _check_free_names(spec: RuntimeSpec, layout: Layout, namespace: str) -> None:
    """The session's namespace is new (its run's study name and a session number taken under the run's lock),
    so a taken name means a bug or a hand-made actor there: say so in one line rather than share it."""
    import ray

    from lors_search.errors import UserError

    names = [POOL_NAME, *(expert_actor_name(e.name) for e in spec.experts)]
    names += [worker_actor_name(i) for i in range(layout.workers)]
    for name in names:
        try:
            ray.get_actor(name, namespace=namespace)
        except ValueError:
            continue
        raise UserError(
            f"actor {name!r} already exists in Ray namespace {namespace!r}, which this search session should "
            "have to itself; end that actor (ray.kill) and resume"
        )


def _started(handles: list[Any], labels: list[str]) -> list[dict[str, Any]]:
    """Each actor's info once its constructor has run; an actor that cannot start is one UserError line."""
    import ray

    from lors_search.errors import UserError

    out = []
    for handle, label in zip(handles, labels, strict=True):
        try:
            out.append(ray.get(handle.info.remote()))
        except ray.exceptions.RayError as exc:
            cause = getattr(exc, "cause", None) or exc
            if isinstance(cause, UserError):
                raise UserError(f"{label}: {cause}") from None
            lines = [line for line in str(cause).splitlines() if line.strip()]
            raise UserError(f"{label} could not start: {lines[-1] if lines else type(cause).__name__}") from exc
    return out


def compute_references(
    runtime: Runtime, rungs: Sequence[int | None], progress: Callable[[str], None] | None = None
) -> dict[str, dict[str, Any]]:
    """Dev cells of the base (all languages) and of each expert (its own language) at every rung, spread
    over the workers: {"base": {rung: cells}, "experts": {name: {rung: cells}}}; rung keys are the ints of `rungs`.
    Unchanged models come from the dataset's score cache; `progress` gets one line saying which."""
    import ray

    jobs: list[tuple[str, str | None, list[str] | None]] = [("base", None, None)]
    jobs += [(expert.name, expert.path, [expert.language]) for expert in runtime.spec.experts]
    refs = [
        runtime.workers[i % len(runtime.workers)].reference.remote(source, languages, list(rungs))
        for i, (_, source, languages) in enumerate(jobs)
    ]
    results = ray.get(refs)
    out: dict[str, dict[str, Any]] = {"base": results[0]["cells"], "experts": {}}
    for (name, _, _), result in zip(jobs[1:], results[1:], strict=True):
        out["experts"][name] = result["cells"]
    if progress is not None:
        cached = [name for (name, _, _), result in zip(jobs, results, strict=True) if result.get("cached")]
        decoded = [name for (name, _, _), result in zip(jobs, results, strict=True) if not result.get("cached")]
        parts = ([f"from the score cache: {', '.join(cached)}"] if cached else []) + (
            [f"decoded (and cached): {', '.join(decoded)}"] if decoded else [])
        progress(f"references {'; '.join(parts)}")
    return out
