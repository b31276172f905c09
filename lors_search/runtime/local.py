"""The runtime without Ray: prepare the experts in this process and build one worker, for benchmarks and
tools that call `WorkerActor.run` directly (same code path as the actors, minus the object store)."""

from __future__ import annotations

from lors_search.merging.prepared import PreparedExpert
from lors_search.runtime.spec import RuntimeSpec


def prepare_experts(spec: RuntimeSpec) -> list[PreparedExpert]:
    """What each expert actor computes, here: task vectors and SVD factors up to `spec.max_ranks`, and the
    Grams of RegMean when a method of the space needs them (`spec.gram_source`)."""
    from lors_search.checkpoints import load_checkpoint, validate_compatible
    from lors_search.merging.prepared import prepare_expert
    from lors_search.runtime.expert_actor import actor_device, expert_grams_for

    device = actor_device()
    base = load_checkpoint(spec.base)
    base_state = {name: tensor.to(device) for name, tensor in base.state_dict.items()}
    prepared = []
    for expert in spec.experts:
        checkpoint = load_checkpoint(expert.path)
        validate_compatible(base, [checkpoint], spec.rules)
        grams = expert_grams_for(checkpoint, spec.gram_source(expert), device, spec.rules)
        prepared.append(
            prepare_expert(
                base_state, checkpoint.state_dict, spec.rules, spec.max_ranks, device, name=expert.name, grams=grams
            )
        )
    return prepared


def local_worker(spec: RuntimeSpec, threads: int = 1):
    """A WorkerActor instance in this process (no Ray)."""
    from lors_search.runtime.worker_actor import WorkerActor

    return WorkerActor(spec, 0, threads, experts=prepare_experts(spec))
