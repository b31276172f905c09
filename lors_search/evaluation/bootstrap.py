"""Paired bootstrap over clips of the merge scores NP and GR (`evaluation/scores.py`) and of the gap between two
models: how sure is "merge A keeps more of the experts' gain than merge B"?

Each round resamples the clips of every language with replacement (as many as the language has), and the SAME
draw is applied to every model, the base and the experts, so a gap is measured on identical clips (a paired
bootstrap, Koehn 2004 "Statistical significance tests for machine translation evaluation"). Corpus metrics are
recomputed from per-row sufficient statistics (jiwer edit counts, sacrebleu n-gram counts), which sum exactly
like the pooled corpus metrics of `metrics.score_cells`: round "as is" (every clip once) gives exactly the
scores of `scores.normalized_performance` / `scores.gain_retained` on `score_cells` output.

    result = bootstrap_scores({"best": best_rows, "ta": ta_rows}, base_rows, expert_rows, rounds=1000, seed=0)
    result.interval("best", "gr", "overall")      # Interval(estimate, mean, std, low, high, ...)
    gap_interval(result, "best", "ta", "gr", "transcribe").tie

Rows are `evaluator.Hypothesis` objects (or anything with id, language, task, reference, hypothesis), one per
(clip, task), as `Evaluator.evaluate(...).hypotheses` returns them; `experts` holds each language's rows
decoded by that language's expert.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import jiwer
import numpy as np
from sacrebleu.metrics import BLEU

from lors_search.evaluation.metrics import TASKS, TRANSCRIBE, CellMetrics, cell_key
from lors_search.evaluation.normalizer import normalize_text
from lors_search.evaluation.scores import gain_retained, normalized_performance

METRICS: tuple[str, ...] = ("np", "gr")
OVERALL = "overall"
SCOPES: tuple[str, ...] = (*TASKS, OVERALL)


class ClipRow(Protocol):
    """One decoded (clip, task) row; `evaluator.Hypothesis` is one."""

    id: str
    language: str
    task: str
    reference: str
    hypothesis: str


@dataclass(frozen=True)
class Interval:
    """A bootstrapped quantity: `estimate` on the clips as they are (no resampling), then mean, std (ddof 1) and
    the percentile interval [low, high] at `level` over the rounds where it is defined (`undefined` counts the
    others, e.g. a resample where an expert no longer beats the base). None where it is never defined."""

    estimate: float | None
    mean: float | None
    std: float | None
    low: float | None
    high: float | None
    level: float
    rounds: int
    undefined: int

    @property
    def tie(self) -> bool:
        """For a gap: the interval contains 0, so the data do not tell the two models apart."""
        return self.low is None or self.high is None or self.low <= 0.0 <= self.high

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate, "mean": self.mean, "std": self.std, "low": self.low, "high": self.high,
            "level": self.level, "rounds": self.rounds, "undefined": self.undefined,
        }


@dataclass(frozen=True)
class BootstrapResult:
    """Per model, metric ("np", "gr") and scope ("transcribe", "translate", "overall"): the estimate and the value
    of every round (NaN where undefined). Rounds are paired across models, so gaps are taken round by round."""

    rounds: int
    seed: int
    level: float
    asr_error: str
    estimates: dict[str, dict[str, dict[str, float | None]]]
    samples: dict[str, dict[str, dict[str, np.ndarray]]]

    def interval(self, model: str, metric: str = "gr", scope: str = OVERALL) -> Interval:
        values = self._samples(model, metric, scope)
        return _interval(self.estimates[model][metric][scope], values, self.level)

    def gap(self, a: str, b: str, metric: str = "gr", scope: str = OVERALL) -> Interval:
        """a minus b, round by round on the same resampled clips."""
        ea, eb = self.estimates[a][metric][scope], self.estimates[b][metric][scope]
        estimate = None if ea is None or eb is None else ea - eb
        return _interval(estimate, self._samples(a, metric, scope) - self._samples(b, metric, scope), self.level)

    def _samples(self, model: str, metric: str, scope: str) -> np.ndarray:
        if model not in self.samples:
            raise KeyError(f"no model {model!r} in the bootstrap (have {', '.join(sorted(self.samples))})")
        if metric not in METRICS or scope not in self.samples[model][metric]:
            raise KeyError(f"no {metric!r} / {scope!r}; metrics {METRICS}, scopes {SCOPES} (tasks present only)")
        return self.samples[model][metric][scope]


def gap_interval(
    result: BootstrapResult, a: str, b: str, metric: str = "gr", scope: str = OVERALL
) -> Interval:
    """The paired bootstrap interval of metric(a) - metric(b) (same as `result.gap`)."""
    return result.gap(a, b, metric, scope)


def bootstrap_scores(
    models: Mapping[str, Sequence[ClipRow]],
    base: Sequence[ClipRow],
    experts: Sequence[ClipRow],
    *,
    rounds: int = 1000,
    seed: int = 0,
    asr_error: str = "wer",
    weights: Mapping[str, float] | None = None,
    level: float = 0.95,
) -> BootstrapResult:
    """NP and GR of every model of `models`, per task and overall, with `rounds` paired resamples of the clips
    (per language, with replacement; numpy `default_rng(seed)`, so a seed gives the same draws every time).

    "overall" is the weighted mean of the defined task means (`weights` per task, default 1 each: the search
    objective `normalized_performance` / `gain_retained` with its default weights). Every model, the base and
    the experts must hold exactly the same (clip, task) rows. ValueError otherwise."""
    if rounds < 2:
        raise ValueError(f"rounds must be at least 2, got {rounds}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    weights = dict(weights or {task: 1.0 for task in TASKS})
    layout = _Layout.of(base)
    base_stats = layout.stats(base, "base")
    expert_stats = layout.stats(experts, "experts")
    model_stats = {name: layout.stats(rows, f"model {name!r}") for name, rows in models.items()}

    def scores_at(counts: np.ndarray) -> dict[str, dict[str, dict[str, float | None]]]:
        base_cells, expert_cells = layout.cells(base_stats, counts), layout.cells(expert_stats, counts)
        out = {}
        for name, stats in model_stats.items():
            cells = layout.cells(stats, counts)
            np_tasks = normalized_performance(cells, expert_cells, asr_error=asr_error).tasks
            gr_tasks = gain_retained(cells, base_cells, expert_cells, asr_error=asr_error).tasks
            out[name] = {
                "np": _with_overall({task: s.mean for task, s in np_tasks.items()}, weights),
                "gr": _with_overall({task: s.mean for task, s in gr_tasks.items()}, weights),
            }
        return out

    estimates = scores_at(np.ones(layout.n_clips, dtype=np.int64))
    rng = np.random.default_rng(seed)
    drawn = [scores_at(layout.draw(rng)) for _ in range(rounds)]
    samples = {
        name: {
            metric: {
                scope: np.array([_nan(round_[name][metric][scope]) for round_ in drawn], dtype=np.float64)
                for scope in estimates[name][metric]
            }
            for metric in METRICS
        }
        for name in model_stats
    }
    return BootstrapResult(rounds, seed, level, asr_error, estimates, samples)


# ---- internals ---------------------------------------------------------------------------------------------

_BLEU = BLEU()


class _Layout:
    """The clips in a fixed order (language, clip id), the tasks, and per-row sufficient statistics."""

    def __init__(self, clips: list[tuple[str, str]], tasks: tuple[str, ...]) -> None:
        self.clips = clips
        self.tasks = tasks
        self.n_clips = len(clips)
        self.position = {clip: i for i, clip in enumerate(clips)}
        self.languages = sorted({language for language, _ in clips})
        # Contiguous slice of each language's clips: a round draws indices within it.
        self.slices = {
            language: slice(min(i for i, c in enumerate(clips) if c[0] == language),
                            max(i for i, c in enumerate(clips) if c[0] == language) + 1)
            for language in self.languages
        }

    @classmethod
    def of(cls, rows: Sequence[ClipRow]) -> _Layout:
        clips = sorted({(row.language, row.id) for row in rows})
        tasks = tuple(task for task in TASKS if any(row.task == task for row in rows))
        if not clips:
            raise ValueError("no rows to bootstrap")
        return cls(clips, tasks)

    def stats(self, rows: Sequence[ClipRow], what: str) -> dict[str, np.ndarray]:
        """{task: int64 array [clips, k]} of additive statistics; the rows must cover every (clip, task) once."""
        by_task: dict[str, list[tuple[str, str] | None]] = {task: [None] * self.n_clips for task in self.tasks}
        for row in rows:
            index = self.position.get((row.language, row.id))
            if index is None or row.task not in by_task:
                raise ValueError(f"{what}: row {row.language}/{row.id}/{row.task} is not in the base's rows")
            if by_task[row.task][index] is not None:
                raise ValueError(f"{what}: row {row.language}/{row.id}/{row.task} appears twice")
            by_task[row.task][index] = (row.reference, row.hypothesis)
        out = {}
        for task, pairs in by_task.items():
            missing = [self.clips[i] for i, pair in enumerate(pairs) if pair is None]
            if missing:
                raise ValueError(f"{what}: no {task} row for clip {missing[0][0]}/{missing[0][1]} ({len(missing)} missing)")
            out[task] = np.array([_row_stats(task, ref, hyp) for ref, hyp in pairs], dtype=np.int64)  # type: ignore[misc]
        return out

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """How many times each clip is drawn in one round (per language, with replacement)."""
        counts = np.zeros(self.n_clips, dtype=np.int64)
        for language in self.languages:
            part = self.slices[language]
            size = part.stop - part.start
            counts[part] = np.bincount(rng.integers(0, size, size=size), minlength=size)
        return counts

    def cells(self, stats: Mapping[str, np.ndarray], counts: np.ndarray) -> dict[str, CellMetrics]:
        out: dict[str, CellMetrics] = {}
        for language in self.languages:
            part = self.slices[language]
            weight = counts[part]
            for task in self.tasks:
                total = weight @ stats[task][part]  # int64: exact sums, as pooled corpus counts are
                out[cell_key(language, task)] = _cell_metrics(task, total, int(weight.sum()))
        return out


def _row_stats(task: str, reference: str, hypothesis: str) -> list[int]:
    if task == TRANSCRIBE:
        ref, hyp = normalize_text(reference), normalize_text(hypothesis)
        words = jiwer.process_words(ref, hyp)
        chars = jiwer.process_characters(ref, hyp)
        return [
            words.substitutions + words.deletions + words.insertions,
            words.hits + words.substitutions + words.deletions,
            chars.substitutions + chars.deletions + chars.insertions,
            chars.hits + chars.substitutions + chars.deletions,
        ]
    # sacrebleu's corpus BLEU sums exactly these per-segment counts before computing the score.
    return [int(v) for v in _BLEU._extract_corpus_statistics([hypothesis], [[reference]])[0]]


def _cell_metrics(task: str, total: np.ndarray, n: int) -> CellMetrics:
    if task == TRANSCRIBE:
        # jiwer's corpus formula: float(S + D + I) / float(H + S + D).
        return {"wer": float(total[0]) / float(total[1]), "cer": float(total[2]) / float(total[3]), "n": n}
    return {"bleu": float(_BLEU._compute_score_from_stats([int(v) for v in total]).score), "n": n}


def _with_overall(task_means: Mapping[str, float | None], weights: Mapping[str, float]) -> dict[str, float | None]:
    out = dict(task_means)
    pairs = [(weights.get(task, 0.0), mean) for task, mean in task_means.items() if mean is not None]
    pairs = [(w, mean) for w, mean in pairs if w > 0]
    total = sum(w for w, _ in pairs)
    out[OVERALL] = sum(w * mean for w, mean in pairs) / total if pairs and total > 0 else None
    return out


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _interval(estimate: float | None, values: np.ndarray, level: float) -> Interval:
    finite = values[np.isfinite(values)]
    undefined = int(values.size - finite.size)
    if finite.size == 0:
        return Interval(estimate, None, None, None, None, level, int(values.size), undefined)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    std = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    return Interval(estimate, float(finite.mean()), std, float(low), float(high), level, int(values.size), undefined)


def rows_from_dicts(items: Iterable[Mapping[str, Any]]) -> tuple[ClipRow, ...]:
    """Rows from their JSON form ({"id", "language", "task", "reference", "hypothesis"}, as eval_dev.json and the
    score cache store them)."""
    from lors_search.evaluation.evaluator import Hypothesis

    return tuple(
        Hypothesis(str(i["id"]), str(i["language"]), str(i["task"]), str(i["reference"]), str(i["hypothesis"]))
        for i in items
    )


__all__ = [
    "METRICS", "OVERALL", "SCOPES", "BootstrapResult", "ClipRow", "Interval", "bootstrap_scores", "gap_interval",
    "rows_from_dicts",
]
