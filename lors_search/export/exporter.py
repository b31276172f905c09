"""Export one trial of a search as a Hugging Face Whisper checkpoint, verified.

The trial's merge config is merged exactly as the search's workers merged it, saved (safetensors, config,
generation config, processor and tokenizer files, merge_config.yaml) into a temporary directory, read back
from disk and re-evaluated on the same dev data at the trial's fidelity; only when the metrics equal the
trial's does the directory get its model card and eval_dev.json and get renamed to the requested path. Any
failure or interruption leaves nothing at that path.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lors_search import __version__
from lors_search.checkpoints import CardInfo, render_model_card, save_merged
from lors_search.errors import UserError
from lors_search.export.build import combined_max_ranks, space_gram_sources
from lors_search.export.card import card_sections
from lors_search.export.langid import langid_markdown, language_id_accuracy
from lors_search.export.layers import layer_parameters
from lors_search.rundir import TRIALS_PARQUET, SearchRun, TrialRecord
from lors_search.export.usage import restrict_generation_config, usage_snippet
from lors_search.evaluation.score_cache import ScoreCache
from lors_search.export.verify import compare_cells
from lors_search.fsutil import atomic_output_dir
from lors_search.merging import get_method
from lors_search.merging.service import MergeService

Progress = Callable[[str], None]
EVAL_FILE = "eval_dev.json"
STAGE = ".checkpoint"


class VerificationError(UserError):
    """The exported model's re-measured dev metrics differ from the trial's."""


@dataclass(frozen=True)
class ExportResult:
    out: Path
    trial: TrialRecord
    cells: dict[str, dict[str, Any]]
    tolerance: float
    merge_seconds: float
    eval_seconds: float
    seconds: float


@dataclass(frozen=True)
class DevData:
    """Where and how the search scored trials (the space's data section)."""

    path: str
    split: str
    languages: tuple[str, ...] | None
    tasks: tuple[str, ...]
    batch_size: int

    @classmethod
    def of_space(cls, space: Any) -> DevData:
        data = space.data
        languages = getattr(space, "languages", None) or data.languages
        return cls(
            path=str(data.path),
            split=str(data.split),
            languages=tuple(languages) if languages else None,
            tasks=tuple(data.tasks),
            batch_size=int(data.batch_size),
        )


def rung_schedule(fidelity: Sequence[int], n_per_language: int | None) -> list[int | None]:
    """The subsets a trial was evaluated on, in order, up to its own fidelity (the workers decode each rung's
    new clips as one run of batches, so replaying the schedule replays the batches)."""
    if n_per_language is None:
        return [None]
    return [n for n in fidelity if n < n_per_language] + [n_per_language]


def evaluate_model_dir(
    model_dir: Path,
    data: DevData,
    schedule: Sequence[int | None],
    device: torch.device,
    *,
    split: str | None = None,
    progress: Progress | None = None,
    bar: bool = False,
    keep_in: Any = None,
) -> Any:
    """EvalResult of the checkpoint in `model_dir` on `data` after evaluating each subset of `schedule` in turn.
    `keep_in` (a `ScoreCache`): also keep the rows there, keyed by the loaded weights, for the report."""
    from lors_search.evaluation.decoding import window_seconds
    from lors_search.evaluation.evalset import load_eval_set
    from lors_search.evaluation.evaluator import Evaluator
    from lors_search.evaluation.model_dir import load_model_dir

    model, tokenizer = load_model_dir(model_dir, device)
    eval_set = load_eval_set(
        data.path,
        split or data.split,
        window_seconds=window_seconds(model.config),
        languages=data.languages,
        tasks=data.tasks,
    )
    evaluator = Evaluator(model, tokenizer, eval_set, batch_size=data.batch_size, device=device)
    result = None
    for n in schedule:
        result = evaluator.evaluate(n, progress=bar)
        if progress is not None:
            progress(f"evaluated {result.n} utterances ({'all' if n is None else n} clips per language)")
    if keep_in is not None and result is not None:
        from lors_search.evaluation.score_cache import EvalSettings, state_hash

        settings = EvalSettings(window_seconds(model.config), tuple(data.tasks), torch.device(device).type)
        ranks = {eval_set.clip_ids[i]: int(eval_set.ranks[i]) for i in range(eval_set.n_clips)}
        key = state_hash(model.state_dict())
        for language in eval_set.languages:
            keep_in.store(key, split or data.split, language, settings, schedule[-1], result.hypotheses, ranks)
    return result


def _readable_dir(path: Path) -> None:
    """mkdtemp makes the directory 0700; an exported model is an ordinary result (umask applies)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o777 & ~mask)


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def export_trial(
    run: SearchRun,
    out: str | os.PathLike[str],
    *,
    trial: int | None = None,
    force: bool = False,
    device: torch.device | str = "cpu",
    tolerance: float = 0.0,
    progress: Progress | None = None,
    bar: bool = False,
) -> ExportResult:
    """Export trial `trial` of `run` (None: the best COMPLETE full-fidelity trial) to `out`, verified.
    `progress` gets one line per step; `bar` shows a decoding progress bar on stderr."""
    say = progress or (lambda message: None)
    started = time.perf_counter()
    if tolerance < 0:
        raise UserError(f"--tolerance must be >= 0, got {tolerance}")
    target = Path(out).expanduser().resolve()
    if target.exists() and not force:
        raise UserError(f"output directory {target} already exists (use --force to replace it)")
    if target == run.root or target in run.root.parents:
        raise UserError(f"refusing to export to {target}: it holds the run directory {run.root}")
    record = run.trial(trial)
    if not record.cells:
        raise UserError(f"trial {record.number} has no dev metrics in {TRIALS_PARQUET}; nothing to verify against")
    space = run.space()
    # RegMean trials: the Grams the search's expert actors computed (space's data, train split), recorded in the
    # exported merge_config.yaml so that `lors-search merge --config` reproduces the checkpoint.
    config, grams = space_gram_sources(record.merge_config(), space)
    data = DevData.of_space(space)
    device = torch.device(device)
    _quiet_transformers()
    shown = "-" if record.objective is None else f"{record.objective:.4f}"  # as the search's lines show it
    say(f"exporting trial {record.number} of run {run.name} ({config.method}, {run.objective_names[0]} {shown})")

    merge_started = time.perf_counter()
    builder = MergeService.from_config(config, device=device, progress=say)
    params = config.merge_params()
    plan = builder.plan(params)
    # The workers prepared the experts up to the space's largest ranks; so do we (the factors are then the same
    # tensors, and so is every product taken from them).
    builder.prepare(combined_max_ranks(space.max_ranks(), plan.max_ranks()), grams)
    say(f"merging with {config.method}")
    merged = builder.merge(params)
    if config.dtype is not None:
        merged = {name: tensor.to(getattr(torch, config.dtype)) for name, tensor in merged.items()}
    method = get_method(config.method)
    layers = layer_parameters(plan, builder.infos, uses_rank=method.uses_rank, uses_density=method.uses_density)
    merge_seconds = time.perf_counter() - merge_started

    with atomic_output_dir(target, force=force) as tmp:
        staged = tmp / STAGE
        save_merged(staged, builder.base, merged, config, None)
        del merged
        languages = _expert_languages(space, data)
        restrict_generation_config(staged, languages)
        builder.merger = None  # free the prepared experts before decoding
        schedule = rung_schedule(run.fidelity, record.n_per_language)
        say(f"re-evaluating the saved checkpoint on {data.split} ({schedule[-1] or 'all'} clips per language)")
        eval_started = time.perf_counter()
        # The verified rows go to the dataset's score cache: the report's column of this trial reads them.
        result = evaluate_model_dir(staged, data, schedule, device, progress=say, bar=bar,
                                    keep_in=ScoreCache(data.path))
        eval_seconds = time.perf_counter() - eval_started
        cells = {cell: dict(metrics) for cell, metrics in result.cells.items()}
        problems = compare_cells(record.cells, cells, tolerance)
        if problems:
            more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
            raise VerificationError(
                f"verification failed: the exported model's {data.split} metrics differ from trial "
                f"{record.number}'s: {'; '.join(problems[:3])}{more}; nothing was written to {target}"
            )
        for item in staged.iterdir():
            os.replace(item, tmp / item.name)
        staged.rmdir()
        say(f"measuring language identification on {data.split}")
        language_id = _language_id(tmp, data, device)

        exported_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        evaluation = {
            "split": data.split,
            "data": data.path,
            "languages": list(data.languages) if data.languages else None,
            "tasks": list(data.tasks),
            "n_per_language": record.n_per_language,
            "rungs": schedule,
            "batch_size": data.batch_size,
            "device": str(device),
            "verified": True,
            "tolerance": tolerance,
        }
        search = {
            "run": run.name,
            "run_dir": str(run.root),
            "study": run.study_name,
            "trial": record.number,
            "state": record.state,
            "n_per_language": record.n_per_language,
            "objectives": {name: record.objectives.get(name) for name in run.objective_names},
            "modes": dict(run.objectives),
            "params": record.params,
            "space": getattr(space, "name", ""),
            "method": config.method,
            "counts": run.describe_counts(),
            "exported_at": exported_at,
            "version": __version__,
        }
        payload = {
            **evaluation,
            "cells": cells,
            "trial_cells": record.cells,
            "search": search,
            "seconds": {"merge": merge_seconds, "eval": eval_seconds},
            "language_id": language_id,
            "hypotheses": [
                {"id": h.id, "language": h.language, "task": h.task, "reference": h.reference, "hypothesis": h.hypothesis}
                for h in result.hypotheses
            ],
        }
        (tmp / EVAL_FILE).write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
        card = CardInfo(
            params=params,
            base=config.base,
            experts=[(expert.name, expert.path) for expert in config.experts],
            sections={
                "Usage": _usage_section(target, languages),
                **card_sections(
                    cells=cells, layers=layers, experts=builder.expert_names, search=search, evaluation=evaluation
                ),
                "Language identification": (
                    f"Without `language`, the pipeline first guesses the language (among {', '.join(languages)}). "
                    f"Measured on every `{data.split}` clip of these languages:\n\n" + langid_markdown(language_id)
                ),
            },
        )
        (tmp / "README.md").write_text(render_model_card(card), encoding="utf-8")
        _readable_dir(tmp)
    return ExportResult(
        out=target,
        trial=record,
        cells=cells,
        tolerance=tolerance,
        merge_seconds=merge_seconds,
        eval_seconds=eval_seconds,
        seconds=time.perf_counter() - started,
    )


def _expert_languages(space: Any, data: DevData) -> list[str]:
    languages = [getattr(expert, "language", None) for expert in space.experts]
    known = [language for language in languages if language]
    return sorted(set(known or (data.languages or ())))


def _language_id(model_dir: Path, data: DevData, device: torch.device) -> dict[str, dict[str, Any]]:
    from lors_search.evaluation.decoding import window_seconds
    from lors_search.evaluation.evalset import load_eval_set
    from lors_search.evaluation.model_dir import load_model_dir

    model, _ = load_model_dir(model_dir, device)
    eval_set = load_eval_set(data.path, data.split, window_seconds=window_seconds(model.config),
                             languages=data.languages, tasks=data.tasks)
    return language_id_accuracy(model, eval_set, batch_size=data.batch_size, device=device)


def _usage_section(target: Path, languages: list[str]) -> str:
    return (
        "A merged model guessing the language of a clip can drift into another of its languages; pass the language "
        "and the task (`transcribe`, or `translate` into English):\n\n```python\n"
        + usage_snippet(target, languages)
        + "\n```\n\nThe generation config lists the experts' languages (`lang_to_id`), `is_multilingual` and the "
        "default task `transcribe`. transformers 5.24 logs once per process that passing `generation_config` together "
        "with `suppress_tokens` and `begin_suppress_tokens` is deprecated: its own Whisper `generate` passes them "
        "(whatever the call), and the output is not affected."
    )


def describe_cells(cells: Mapping[str, Mapping[str, Any]]) -> str:
    """"de WER 12.3 %, de>en BLEU 45.6, ..." for the summary line."""
    parts = []
    for cell in sorted(cells):
        language, _, task = cell.partition("/")
        metrics = cells[cell]
        if task == "transcribe" and metrics.get("wer") is not None:
            parts.append(f"{language} WER {100 * float(metrics['wer']):.1f} %")
        elif task == "translate" and metrics.get("bleu") is not None:
            parts.append(f"{language}>en BLEU {float(metrics['bleu']):.1f}")
    return ", ".join(parts)


__all__ = ["EVAL_FILE", "DevData", "ExportResult", "VerificationError", "describe_cells", "export_trial", "rung_schedule"]
