"""Objective values of a trial from its per-cell dev metrics and the references (base and experts measured on
the same clips): normalised performance and gain retained (lors_search.evaluation.scores) weighted per task,
and plain task means (asr_wer, asr_cer, st_bleu) for multi-objective searches.

References are {"base": {cell: metrics}, "experts": {expert_name: {cell: metrics}}} measured at the same
n_per_language as the trial's cells, or a mapping from rung to such a dict (keys: the int rung, None for the
whole split), from which the trial's rung is picked.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lors_search.evaluation.scores import gain_retained, normalized_performance

if TYPE_CHECKING:
    from lors_search.space.schema import SearchSpace

_TASK_OF = {"asr": "transcribe", "st": "translate"}


def references_at(references: Mapping[Any, Any], n_per_language: int | None) -> Mapping[str, Any]:
    """The references for one rung: `references` itself when it has "base"/"experts", else its entry for
    the rung (an int, None for the whole split). KeyError when absent."""
    if "base" in references or "experts" in references:
        return references
    if n_per_language in references:
        return references[n_per_language]
    raise KeyError(f"no references for n_per_language={n_per_language} (have {sorted(map(str, references))})")


def _cells_of(space: SearchSpace, cells: Mapping[str, Any]) -> dict[str, Any]:
    languages, tasks = set(space.languages), set(space.data.tasks)
    out = {}
    for key, metrics in cells.items():
        language, _, task = key.partition("/")
        if language in languages and task in tasks:
            out[key] = metrics
    if not out:
        raise ValueError(f"no cell of the space's languages and tasks among {sorted(cells)}")
    return out


def _expert_cells(space: SearchSpace, refs: Mapping[str, Any], keys: list[str]) -> dict[str, Any]:
    by_language = {expert.language: expert.name for expert in space.experts}
    experts = refs.get("experts") or {}
    out = {}
    for key in keys:
        name = by_language[key.partition("/")[0]]
        if name not in experts or key not in experts[name]:
            raise ValueError(f"the references lack expert {name!r} metrics for cell {key}")
        out[key] = experts[name][key]
    return out


def _weighted(space: SearchSpace, task_means: Mapping[str, float | None], what: str) -> float:
    weights = {"transcribe": space.objective.asr_weight, "translate": space.objective.st_weight}
    pairs = [(weights[task], mean) for task, mean in task_means.items() if mean is not None and weights[task] > 0]
    total = sum(weight for weight, _ in pairs)
    if not pairs or total == 0:
        raise ValueError(f"{what} is undefined for these references (no task has a defined value)")
    return sum(weight * mean for weight, mean in pairs) / total


def score(
    space: SearchSpace, cells: Mapping[str, Any], references: Mapping[Any, Any], n_per_language: int | None = None
) -> dict[str, float]:
    """{objective name: value} for `space.objective_names()`; ValueError when an objective is undefined
    (e.g. gain_retained where no expert beats the base): check the references once with `check_references`."""
    mine = _cells_of(space, cells)
    keys = sorted(mine)
    refs = references_at(references, n_per_language)
    asr_error = space.objective.asr_error
    names = space.objective.names()
    out: dict[str, float] = {}
    np_result = gr_result = None
    if any(name in ("normalized_performance", "asr_np", "st_np") for name in names):
        np_result = normalized_performance(mine, _expert_cells(space, refs, keys), asr_error=asr_error)
    if any(name in ("gain_retained", "asr_gain_retained", "st_gain_retained") for name in names):
        base = refs.get("base") or {}
        missing = [key for key in keys if key not in base]
        if missing:
            raise ValueError(f"the references lack base metrics for cell {missing[0]}")
        gr_result = gain_retained(mine, base, _expert_cells(space, refs, keys), asr_error=asr_error)
    for name in names:
        if name in ("normalized_performance", "gain_retained"):
            result = np_result if name == "normalized_performance" else gr_result
            assert result is not None
            out[name] = _weighted(space, {task: s.mean for task, s in result.tasks.items()}, name)
        elif name.endswith(("_np", "_gain_retained")):
            result = np_result if name.endswith("_np") else gr_result
            assert result is not None
            summary = result.tasks.get(_TASK_OF[name.partition("_")[0]])
            if summary is None or summary.mean is None:
                raise ValueError(f"{name} is undefined for these references")
            out[name] = summary.mean
        else:
            task = _TASK_OF[name.partition("_")[0]]
            metric = name.partition("_")[2]
            values = [float(mine[key][metric]) for key in keys if key.endswith("/" + task)]
            if not values:
                raise ValueError(f"{name}: no {task} cells")
            out[name] = statistics.fmean(values)
    return out


def check_references(space: SearchSpace, references: Mapping[Any, Any], n_per_language: int | None = None) -> None:
    """ValueError when the objectives are undefined for these references, e.g. normalised performance with an
    expert scoring 0 everywhere, or gain retained when no expert beats the base: scoring the experts' own
    metrics through `score` must work (a trial that equals the experts then gets NP 1)."""
    refs = references_at(references, n_per_language)
    experts = refs.get("experts") or {}
    by_language = {expert.language: expert.name for expert in space.experts}
    cells: dict[str, Any] = {}
    for language in space.languages:
        name = by_language[language]
        for task in space.data.tasks:
            key = f"{language}/{task}"
            if name not in experts or key not in experts[name]:
                raise ValueError(f"the references lack expert {name!r} metrics for cell {key}")
            cells[key] = experts[name][key]
    score(space, cells, references, n_per_language)
