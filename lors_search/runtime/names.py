"""Names of the search's Ray actors: one namespace, one name per role, so trials and tools find them."""

from __future__ import annotations

NAMESPACE = "lors_search"
POOL_NAME = "lors/pool"


def expert_actor_name(expert: str) -> str:
    return f"lors/expert/{expert}"


def worker_actor_name(index: int) -> str:
    return f"lors/worker/{index}"
