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
from dataclasses import dataclass
from typing import Any

from lors_search.evaluation.scores import gain_retained, normalized_performance
from lors_search.space.schema import OBJECTIVE_MODES, SearchSpace

_TASK_OF = {"asr": "transcribe", "st": "translate"}


def references_at(references: Mapping[Any, Any], n_per_language: int | None) -> Mapping[str, Any]:
    """The references for one rung: `references` itself when it has "base"/"experts", else its entry for
    the rung (an int, None for the whole split). KeyError when absent."""
    if "base" in references or "experts" in references:
        return references
    if n_per_language in references:
        return references[n_per_language]
    raise KeyError(f"no references for n_per_language={n_per_language} (have {sorted(map(str, references))})")


@dataclass(frozen=True)
class Scorer:
    """A space's objective as plain data (what a trial needs to score itself, instead of the space): the
    objective names and modes, the scored languages and tasks, which expert covers each language, the task
    weights and the ASR error metric."""

    names: tuple[str, ...]
    languages: tuple[str, ...]
    tasks: tuple[str, ...]
    expert_of: Mapping[str, str]  # language -> expert name
    asr_weight: float = 1.0
    st_weight: float = 1.0
    asr_error: str = "wer"

    @classmethod
    def of(cls, space: SearchSpace) -> Scorer:
        objective = space.objective
        return cls(
            names=objective.names(),
            languages=tuple(space.languages),
            tasks=tuple(space.data.tasks),
            expert_of={expert.language: expert.name for expert in space.experts},
            asr_weight=objective.asr_weight,
            st_weight=objective.st_weight,
            asr_error=objective.asr_error,
        )

    @property
    def modes(self) -> list[str]:
        return [OBJECTIVE_MODES[name] for name in self.names]

    def __call__(
        self, cells: Mapping[str, Any], references: Mapping[Any, Any], n_per_language: int | None = None
    ) -> dict[str, float]:
        """{objective name: value}; ValueError when an objective is undefined (e.g. gain_retained where no
        expert beats the base): check the references once with `check_references`."""
        mine = self._cells_of(cells)
        keys = sorted(mine)
        refs = references_at(references, n_per_language)
        names = self.names
        out: dict[str, float] = {}
        np_result = gr_result = None
        if any(name in ("normalized_performance", "asr_np", "st_np") for name in names):
            np_result = normalized_performance(mine, self._expert_cells(refs, keys), asr_error=self.asr_error)
        if any(name in ("gain_retained", "asr_gain_retained", "st_gain_retained") for name in names):
            base = refs.get("base") or {}
            missing = [key for key in keys if key not in base]
            if missing:
                raise ValueError(f"the references lack base metrics for cell {missing[0]}")
            gr_result = gain_retained(mine, base, self._expert_cells(refs, keys), asr_error=self.asr_error)
        for name in names:
            if name in ("normalized_performance", "gain_retained"):
                result = np_result if name == "normalized_performance" else gr_result
                assert result is not None
                out[name] = self._weighted({task: s.mean for task, s in result.tasks.items()}, name)
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

    def check_references(self, references: Mapping[Any, Any], n_per_language: int | None = None) -> None:
        """ValueError when the objectives are undefined for these references, e.g. normalised performance with
        an expert scoring 0 everywhere, or gain retained when no expert beats the base: scoring the experts'
        own metrics must work (a trial that equals the experts then gets NP 1)."""
        refs = references_at(references, n_per_language)
        experts = refs.get("experts") or {}
        cells: dict[str, Any] = {}
        for language in self.languages:
            name = self.expert_of[language]
            for task in self.tasks:
                key = f"{language}/{task}"
                if name not in experts or key not in experts[name]:
                    raise ValueError(f"the references lack expert {name!r} metrics for cell {key}")
                cells[key] = experts[name][key]
        self(cells, references, n_per_language)

    def _cells_of(self, cells: Mapping[str, Any]) -> dict[str, Any]:
        languages, tasks = set(self.languages), set(self.tasks)
        out = {}
        for key, metrics in cells.items():
            language, _, task = key.partition("/")
            if language in languages and task in tasks:
                out[key] = metrics
        if not out:
            raise ValueError(f"no cell of the space's languages and tasks among {sorted(cells)}")
        return out

    def _expert_cells(self, refs: Mapping[str, Any], keys: list[str]) -> dict[str, Any]:
        experts = refs.get("experts") or {}
        out = {}
        for key in keys:
            name = self.expert_of[key.partition("/")[0]]
            if name not in experts or key not in experts[name]:
                raise ValueError(f"the references lack expert {name!r} metrics for cell {key}")
            out[key] = experts[name][key]
        return out

    def _weighted(self, task_means: Mapping[str, float | None], what: str) -> float:
        weights = {"transcribe": self.asr_weight, "translate": self.st_weight}
        pairs = [(weights[task], mean) for task, mean in task_means.items() if mean is not None and weights[task] > 0]
        total = sum(weight for weight, _ in pairs)
        if not pairs or total == 0:
            raise ValueError(f"{what} is undefined for these references (no task has a defined value)")
        return sum(weight * mean for weight, mean in pairs) / total
