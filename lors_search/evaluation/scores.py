"""Merge-quality scores relative to the experts: normalised performance (NP: each cell's score relative to
the fine-tuned expert of its language, averaged; the kind of figure LoRS-Merging, arXiv 2502.17380, reports)
and the fraction of the fine-tuning gain over the base that a model retains. Pure functions over metric dicts keyed
"<lang>/<task>" (`metrics.score_cells` output); the exact definitions are in docs/evaluation.md.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from lors_search.evaluation.metrics import TASKS, TRANSCRIBE, CellMetrics, split_cell_key

ASR_ERRORS = ("wer", "cer")


def asr_accuracy(metrics: CellMetrics, asr_error: str = "wer") -> float:
    """max(0, 1 - error): an error rate above 1 (many insertions) scores 0, not negative."""
    return max(0.0, 1.0 - float(metrics[_checked(asr_error)]))


def cell_score(key: str, metrics: CellMetrics, asr_error: str = "wer") -> float:
    """Higher is better: ASR accuracy `max(0, 1 - error)` for transcribe cells, BLEU (0-100) for translate cells."""
    return asr_accuracy(metrics, asr_error) if split_cell_key(key)[1] == TRANSCRIBE else float(metrics["bleu"])


def cell_error(key: str, metrics: CellMetrics, asr_error: str = "wer") -> float:
    """Lower is better: the ASR error clipped to [0, 1] for transcribe cells, -BLEU for translate cells."""
    if split_cell_key(key)[1] == TRANSCRIBE:
        return min(1.0, max(0.0, float(metrics[_checked(asr_error)])))
    return -float(metrics["bleu"])


@dataclass(frozen=True)
class TaskSummary:
    """A per-cell quantity summarised over the languages of one task (None where no cell is defined)."""

    mean: float | None
    median: float | None
    defined: int
    undefined: tuple[str, ...]  # cells where the quantity is undefined

    def to_dict(self) -> dict[str, object]:
        return {"mean": self.mean, "median": self.median, "defined": self.defined, "undefined": list(self.undefined)}


@dataclass(frozen=True)
class NormalizedPerformance:
    """NP per cell (None where the expert scores 0), its mean over all defined cells, and per task."""

    cells: dict[str, float | None]
    mean: float | None
    tasks: dict[str, TaskSummary]

    def to_dict(self) -> dict[str, object]:
        return {"cells": self.cells, "mean": self.mean, "tasks": {t: s.to_dict() for t, s in self.tasks.items()}}


@dataclass(frozen=True)
class GainRetained:
    """Fraction of the expert's gain over the base kept per cell (None where the expert does not beat the
    base), summarised per task over languages."""

    cells: dict[str, float | None]
    tasks: dict[str, TaskSummary]

    def to_dict(self) -> dict[str, object]:
        return {"cells": self.cells, "tasks": {t: s.to_dict() for t, s in self.tasks.items()}}


def normalized_performance(
    model: Mapping[str, CellMetrics], experts: Mapping[str, CellMetrics], *, asr_error: str = "wer"
) -> NormalizedPerformance:
    """NP_c = score(model, c) / score(expert of c's language, c) for every cell c of `model`; NP = mean of NP_c.

    `experts[c]` holds the metrics of the expert of c's language on cell c. A cell whose expert scores 0 has
    no NP (None) and is left out of the means.
    """
    cells: dict[str, float | None] = {}
    for key in sorted(model):
        reference = cell_score(key, _lookup(experts, key, "expert"), asr_error)
        score = cell_score(key, model[key], asr_error)
        cells[key] = score / reference if reference > 0 else None
    defined = [value for value in cells.values() if value is not None]
    return NormalizedPerformance(
        cells=cells, mean=statistics.fmean(defined) if defined else None, tasks=_per_task(cells)
    )


def gain_retained(
    model: Mapping[str, CellMetrics],
    base: Mapping[str, CellMetrics],
    experts: Mapping[str, CellMetrics],
    *,
    asr_error: str = "wer",
) -> GainRetained:
    """GR_c = (err_base - err_model) / (err_base - err_expert) with `cell_error` as err, for every cell c of
    `model`: 1 = the expert's whole gain kept, 0 = no better than the base, negative = worse than the base.
    Undefined (None) where err_base - err_expert <= 0, i.e. the expert does not beat the base."""
    cells: dict[str, float | None] = {}
    for key in sorted(model):
        base_error = cell_error(key, _lookup(base, key, "base"), asr_error)
        expert_error = cell_error(key, _lookup(experts, key, "expert"), asr_error)
        gain = base_error - expert_error
        cells[key] = (base_error - cell_error(key, model[key], asr_error)) / gain if gain > 0 else None
    return GainRetained(cells=cells, tasks=_per_task(cells))


def _per_task(cells: Mapping[str, float | None]) -> dict[str, TaskSummary]:
    summaries: dict[str, TaskSummary] = {}
    for task in TASKS:
        keys = [key for key in cells if split_cell_key(key)[1] == task]
        if not keys:
            continue
        values = [cells[key] for key in keys if cells[key] is not None]
        summaries[task] = TaskSummary(
            mean=statistics.fmean(values) if values else None,
            median=statistics.median(values) if values else None,
            defined=len(values),
            undefined=tuple(key for key in keys if cells[key] is None),
        )
    return summaries


def _lookup(table: Mapping[str, CellMetrics], key: str, name: str) -> CellMetrics:
    if key not in table:
        raise ValueError(f"no {name} metrics for cell {key}")
    return table[key]


def _checked(asr_error: str) -> str:
    if asr_error not in ASR_ERRORS:
        raise ValueError(f"unknown ASR error metric {asr_error!r}; expected one of {', '.join(ASR_ERRORS)}")
    return asr_error
