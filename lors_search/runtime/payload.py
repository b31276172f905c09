"""A prepared expert as plain numpy arrays: what an expert actor puts in the object store once (numpy travels
zero-copy and read-only within a node) and every worker turns back into tensors on its own device.

RegMean's Grams (arXiv 2212.09849) are stored once per distinct tensor: the q/k/v projections of one attention
read the same input and share one Gram, so `grams` holds each distinct array once and `gram_aliases` names the
layers that reuse another's."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from lors_search.merging.prepared import PreparedExpert


def to_payload(expert: PreparedExpert) -> dict[str, Any]:
    def arr(tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().to("cpu").contiguous().numpy()

    grams: dict[str, np.ndarray] = {}
    aliases: dict[str, str] = {}
    first: dict[int, str] = {}
    for name, gram in expert.grams.items():
        source = first.setdefault(id(gram), name)
        if source == name:
            grams[name] = arr(gram)
        else:
            aliases[name] = source
    return {
        "name": expert.name,
        "deltas": {name: arr(tensor) for name, tensor in expert.deltas.items()},
        "factors": {name: (arr(us), arr(vh)) for name, (us, vh) in expert.factors.items()},
        "grams": grams,
        "gram_aliases": aliases,
    }


def from_payload(payload: dict[str, Any], device: torch.device | str = "cpu") -> PreparedExpert:
    """Tensors on `device`; arrays from the object store are read-only, so CPU tensors are copies."""

    def tensor(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(array, copy=True)).to(device)

    grams = {name: tensor(array) for name, array in payload.get("grams", {}).items()}
    for name, source in payload.get("gram_aliases", {}).items():
        grams[name] = grams[source]
    return PreparedExpert(
        name=payload["name"],
        deltas={name: tensor(array) for name, array in payload["deltas"].items()},
        factors={name: (tensor(us), tensor(vh)) for name, (us, vh) in payload["factors"].items()},
        grams=grams,
    )


def payload_bytes(payload: dict[str, Any]) -> int:
    total = sum(array.nbytes for array in payload["deltas"].values())
    total += sum(array.nbytes for array in payload.get("grams", {}).values())
    return total + sum(us.nbytes + vh.nbytes for us, vh in payload["factors"].values())
