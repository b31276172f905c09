"""Corpus-level metrics per language and task: WER and CER (jiwer, on `normalize_text` output) for ASR, BLEU and
chrF (sacrebleu, default 13a tokenisation, raw text) for speech translation into English.

Every metric is computed from the pooled hypotheses of a cell, never averaged over batches or utterances, so
scoring a subset and then the full set gives the same numbers as scoring each directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jiwer
import sacrebleu

from lors_search.evaluation.normalizer import normalize_text

TRANSCRIBE = "transcribe"
TRANSLATE = "translate"
TASKS: tuple[str, ...] = (TRANSCRIBE, TRANSLATE)
ASR_METRICS: tuple[str, ...] = ("wer", "cer")
ST_METRICS: tuple[str, ...] = ("bleu", "chrf")

# A cell's metrics: {"wer": .., "cer": .., "n": ..} for ASR, {"bleu": .., "chrf": .., "n": ..} for ST.
CellMetrics = dict[str, float | int]


def cell_key(language: str, task: str) -> str:
    """The key of a (language, task) cell: "<lang>/<task>", e.g. "de/translate"."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")
    return f"{language}/{task}"


def split_cell_key(key: str) -> tuple[str, str]:
    """The (language, task) of a cell key."""
    language, sep, task = key.partition("/")
    if not sep or not language or task not in TASKS:
        raise ValueError(f"malformed cell key {key!r}; expected '<lang>/<task>' with task in {', '.join(TASKS)}")
    return language, task


def asr_metrics(references: Sequence[str], hypotheses: Sequence[str]) -> CellMetrics:
    """Corpus WER and CER of normalised text: total edits / total reference words (characters, spaces
    included for CER). Values are fractions (0.25 = 25 %), not percentages; they exceed 1 with many insertions."""
    refs, hyps = _paired(references, hypotheses)
    refs = [normalize_text(text) for text in refs]
    hyps = [normalize_text(text) for text in hyps]
    return {"wer": float(jiwer.wer(refs, hyps)), "cer": float(jiwer.cer(refs, hyps)), "n": len(refs)}


def st_metrics(references: Sequence[str], hypotheses: Sequence[str]) -> CellMetrics:
    """Corpus BLEU (sacrebleu defaults: 13a tokenisation, case-sensitive, exponential smoothing) and chrF
    (character 6-grams, beta 2) of the raw text with one reference per utterance, both on a 0-100 scale."""
    refs, hyps = _paired(references, hypotheses)
    bleu = sacrebleu.corpus_bleu(hyps, [refs]).score
    chrf = sacrebleu.corpus_chrf(hyps, [refs]).score
    return {"bleu": float(bleu), "chrf": float(chrf), "n": len(refs)}


def task_metrics(task: str, references: Sequence[str], hypotheses: Sequence[str]) -> CellMetrics:
    if task == TRANSCRIBE:
        return asr_metrics(references, hypotheses)
    if task == TRANSLATE:
        return st_metrics(references, hypotheses)
    raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")


def score_cells(
    languages: Sequence[str], tasks: Sequence[str], references: Sequence[str], hypotheses: Sequence[str]
) -> dict[str, CellMetrics]:
    """Group utterance rows by (language, task) and score each group; keys sorted ("ca/transcribe", ...)."""
    if not len(languages) == len(tasks) == len(references) == len(hypotheses):
        raise ValueError("languages, tasks, references and hypotheses must have one entry per row")
    groups: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for language, task, reference, hypothesis in zip(languages, tasks, references, hypotheses, strict=True):
        refs, hyps = groups.setdefault((language, task), ([], []))
        refs.append(reference)
        hyps.append(hypothesis)
    return {
        cell_key(language, task): task_metrics(task, refs, hyps)
        for (language, task), (refs, hyps) in sorted(groups.items())
    }


def headline(cells: Mapping[str, CellMetrics], task: str, metric: str) -> float:
    """Unweighted mean of one metric over the languages of a task (e.g. mean WER over the ASR cells)."""
    values = [float(m[metric]) for key, m in cells.items() if split_cell_key(key)[1] == task]
    if not values:
        raise ValueError(f"no {task} cells")
    return sum(values) / len(values)


def _paired(references: Sequence[str], hypotheses: Sequence[str]) -> tuple[list[str], list[str]]:
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references:
        raise ValueError("no utterances to score")
    return list(references), list(hypotheses)
