"""What a Tune trial sends its worker actor per rung besides the dev-subset size: the trial's MergeParams,
`Packed` (pickled by the searcher in the driver, unpickled by the worker, so the trial process in between
imports neither torch nor the merge classes), and the run's `Scoring` (the objective and its references), with
which the worker scores the rung. Light on purpose: the trial process imports it.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class Packed:
    """A value pickled once where it is made and unpickled where it is used; equal when the bytes are."""

    __slots__ = ("blob",)

    def __init__(self, value: Any) -> None:
        self.blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    def unpack(self) -> Any:
        return pickle.loads(self.blob)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Packed) and other.blob == self.blob

    def __hash__(self) -> int:
        return hash(self.blob)

    def __getstate__(self) -> bytes:
        return self.blob

    def __setstate__(self, blob: bytes) -> None:
        self.blob = blob


def unpacked(value: Any) -> Any:
    """`value`, unpacked when it is Packed."""
    return value.unpack() if isinstance(value, Packed) else value


@dataclass(frozen=True)
class Scoring:
    """What a worker needs to score a rung: the space's objective (lors_search.space.Scorer) and, per rung (the
    int rung as key), the base and expert cells that it compares against."""

    scorer: Any
    references: Mapping[int, Any]

    def __call__(self, cells: Mapping[str, Any], n: int) -> dict[str, float]:
        scores = self.scorer(cells, self.references, n)
        return {name: float(scores[name]) for name in self.scorer.names}
