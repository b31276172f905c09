"""The expert actor (`lors/expert/<name>`): loads one expert and the base once, computes the task vector and
the SVD factors up to the space's largest ranks (LoRS-Merging, arXiv 2502.17380) on its device, and, when a
method of the space needs them (RegMean, arXiv 2212.09849), the Gram matrices of its layer inputs on its own
language's train clips (cached on disk); keeps them in the object store as numpy for the workers to fetch
once."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from lors_search.merging.rules import MergeRule

if TYPE_CHECKING:
    from lors_search.checkpoints.checkpoint import Checkpoint
    from lors_search.whisper.gram import GramSource


def expert_grams_for(
    checkpoint: Checkpoint, source: GramSource | None, device: torch.device, rules: tuple[MergeRule, ...]
) -> dict[str, torch.Tensor] | None:
    """The expert's mean Grams when `source` is given (computed on `device`, through the disk cache)."""
    if source is None:
        return None
    from lors_search.whisper.gram import merge_grams

    means, _ = merge_grams(checkpoint, source, device=device, rules=rules)
    return means


def actor_device() -> torch.device:
    """The GPU Ray gave this actor (or, outside Ray, any GPU), else the CPU."""
    import ray

    gpus = ray.get_gpu_ids() if ray.is_initialized() else [0]
    if gpus and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


class ExpertActor:
    def __init__(
        self,
        name: str,
        base: str,
        path: str,
        rules: tuple[MergeRule, ...],
        max_ranks: int | Mapping[str, int],
        threads: int = 1,
        grams: GramSource | None = None,
    ) -> None:
        import ray

        from lors_search.checkpoints import load_checkpoint, validate_compatible
        from lors_search.merging.prepared import prepare_expert
        from lors_search.runtime.payload import payload_bytes, to_payload

        torch.set_num_threads(max(1, threads))
        started = time.perf_counter()
        self.name = name
        self.device = actor_device()
        base_checkpoint = load_checkpoint(base)
        expert_checkpoint = load_checkpoint(path)
        validate_compatible(base_checkpoint, [expert_checkpoint], rules)
        # Grams first: they run the expert's own model, whose weights prepare_expert does not keep.
        means = expert_grams_for(expert_checkpoint, grams, self.device, rules)
        base_state = {key: tensor.to(self.device) for key, tensor in base_checkpoint.state_dict.items()}
        prepared = prepare_expert(
            base_state, expert_checkpoint.state_dict, rules, max_ranks, self.device, name=name, grams=means
        )
        payload = to_payload(prepared)
        self.bytes = payload_bytes(payload)
        self._ref = ray.put(payload)  # owned by this actor: lives as long as it does
        self.seconds = time.perf_counter() - started
        del base_state, prepared, payload

    def prepared_ref(self) -> list[Any]:
        """[ObjectRef] of the prepared expert (wrapped in a list so Ray does not resolve it)."""
        return [self._ref]

    def info(self) -> dict[str, Any]:
        import ray

        return {
            "name": self.name,
            "node_id": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "device": str(self.device),
            "prepare_seconds": self.seconds,
            "bytes": self.bytes,
        }
