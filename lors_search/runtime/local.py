"""The runtime without Ray: prepare the experts in this process and build one worker, for benchmarks and
tools that call `WorkerActor.run` directly (same code path as the actors, minus the object store)."""

from __future__ import annotations

from lors_search.merging.prepared import PreparedExpert
from lors_search.runtime.spec import RuntimeSpec


def prepare_experts(spec: RuntimeSpec) -> list[PreparedExpert]:
    """What the expert actors compute, here, through the same merge service: task vectors and SVD factors up
    to `spec.max_ranks`, and RegMean's Grams when a method of the space needs them (`spec.gram_source`)."""
    from lors_search.merging.service import prepare_experts as prepare
    from lors_search.runtime.expert_actor import actor_device

    sources = {expert.name: spec.gram_source(expert) for expert in spec.experts}
    grams = {name: source for name, source in sources.items() if source is not None}
    return prepare(spec.base, spec.experts, spec.rules, spec.max_ranks, device=actor_device(), grams=grams)


def local_worker(spec: RuntimeSpec, threads: int = 1):
    """A WorkerActor instance in this process (no Ray)."""
    from lors_search.runtime.worker_actor import WorkerActor

    return WorkerActor(spec, 0, threads, experts=prepare_experts(spec))
