"""The expert actor (`lors/expert/<name>`): loads one expert and the base once, computes the task vector and
the SVD factors up to the space's largest ranks (LoRS-Merging, arXiv 2502.17380) on its device, and, when a
method of the space needs them (RegMean, arXiv 2212.09849), the Gram matrices of its layer inputs on its own
language's train clips (cached on disk), all through the merge service (lors_search.merging.service); keeps
them in the object store as numpy for the workers to fetch once."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import torch

from lors_search.merging.rules import MergeRule

if TYPE_CHECKING:
    from lors_search.whisper.gram import GramSource


class _Expert(NamedTuple):
    name: str
    path: str


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

        from lors_search.merging.service import prepare_experts
        from lors_search.runtime.payload import payload_bytes, to_payload

        torch.set_num_threads(max(1, threads))
        started = time.perf_counter()
        self.name = name
        self.device = actor_device()
        (prepared,) = prepare_experts(
            base, [_Expert(name, path)], rules, max_ranks, device=self.device,
            grams={name: grams} if grams is not None else None,
        )
        payload = to_payload(prepared)
        self.bytes = payload_bytes(payload)
        self._ref = ray.put(payload)  # owned by this actor: lives as long as it does
        self.seconds = time.perf_counter() - started
        del prepared, payload

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
