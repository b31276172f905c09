"""A prepared expert as plain numpy arrays: what an expert actor puts in the object store once (numpy travels
zero-copy and read-only within a node) and every worker turns back into tensors on its own device."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lors_search.merging.prepared import PreparedExpert


def to_payload(expert: PreparedExpert) -> dict[str, Any]:
    def arr(tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().to("cpu").contiguous().numpy()

    return {
        "name": expert.name,
        "deltas": {name: arr(tensor) for name, tensor in expert.deltas.items()},
        "factors": {name: (arr(us), arr(vh)) for name, (us, vh) in expert.factors.items()},
    }


def from_payload(payload: dict[str, Any], device: torch.device | str = "cpu") -> PreparedExpert:
    """Tensors on `device`; arrays from the object store are read-only, so CPU tensors are copies."""

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(array, copy=True)).to(device)

    return PreparedExpert(
        name=payload["name"],
        deltas={name: tensor(array) for name, array in payload["deltas"].items()},
        factors={name: (tensor(us), tensor(vh)) for name, (us, vh) in payload["factors"].items()},
    )


def payload_bytes(payload: dict[str, Any]) -> int:
    total = sum(array.nbytes for array in payload["deltas"].values())
    return total + sum(us.nbytes + vh.nbytes for us, vh in payload["factors"].values())
