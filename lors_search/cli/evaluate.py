"""`lors-search evaluate`: score a Whisper checkpoint on a dev or test split, per language and task (WER and CER
for transcription, BLEU and chrF for translation into English); thin wiring of `lors_search.evaluation`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from lors_search.errors import UserError

SPLITS = ("dev", "test")
TASKS = ("transcribe", "translate")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "evaluate",
        help="score a Whisper checkpoint on a dev or test split",
        description=(
            "Decode a split greedily in batches and report, per language and task, WER and CER "
            "(transcribe; Whisper-style normalised text) and BLEU and chrF (translate; sacrebleu). "
            "Exact definitions: docs/evaluation.md."
        ),
    )
    parser.add_argument("--model", metavar="DIR", help="Hugging Face Whisper directory (weights, tokenizer files)")
    parser.add_argument("--data", metavar="DIR", help="dataset saved with save_to_disk (e.g. a demo build's data/)")
    parser.add_argument("--split", default="dev", metavar="SPLIT", help="dev (default) or test")
    parser.add_argument("--json", action="store_true", help='print one JSON object keyed "<lang>/<task>", nothing else')
    parser.add_argument("--langs", nargs="+", metavar="LANG", help="only these languages (default: all in the split)")
    parser.add_argument("--tasks", nargs="+", metavar="TASK", help="transcribe and/or translate (default: both)")
    parser.add_argument("--limit", metavar="N", help="only the first N clips of each language (seeded, stratified)")
    parser.add_argument("--batch-size", default="32", metavar="B", help="decoder rows per batch (default 32)")
    parser.add_argument("--max-new-tokens", metavar="T", help="decoding length cap (default: the model's maximum)")
    parser.add_argument("--device", default="auto", metavar="DEV", help="cpu, cuda or auto (default: cuda if present)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.model:
        raise UserError("--model DIR is required")
    if not args.data:
        raise UserError("--data DIR is required")
    if args.split not in SPLITS:
        raise UserError(f"unknown split {args.split!r}; expected {' or '.join(SPLITS)}")
    tasks = args.tasks or list(TASKS)
    unknown = [task for task in tasks if task not in TASKS]
    if unknown:
        raise UserError(f"unknown task(s) {', '.join(unknown)}; expected transcribe and/or translate")
    limit = _positive(args.limit, "--limit")
    batch_size = _positive(args.batch_size, "--batch-size")
    max_new_tokens = _positive(args.max_new_tokens, "--max-new-tokens")

    from transformers.utils import logging as hf_logging

    from lors_search.checkpoints.headers import check_headers
    from lors_search.evaluation.data_schema import check_eval_data
    from lors_search.evaluation.decoding import window_seconds
    from lors_search.evaluation.evalset import load_eval_set
    from lors_search.evaluation.evaluator import Evaluator
    from lors_search.evaluation.model_dir import check_model_dir, load_model_dir, resolve_device

    hf_logging.disable_progress_bar()  # a weight-loading bar would precede every message on stderr
    device = resolve_device(args.device)
    # Cheap checks of both inputs first (config, safetensors header, the split's schema and sampling rate),
    # then the weights (refused when not finite), and only then the features: nothing is computed or cached
    # for an input that will be refused.
    config = check_model_dir(args.model)
    check_headers((f"--model {args.model}", args.model), [])
    check_eval_data(args.data, args.split, require_audio=False)  # missing columns: load_eval_set names them
    model, tokenizer = load_model_dir(args.model, device)
    _check_finite(model, args.model)
    # The test split is an explicit user choice here; only the search's API refuses it.
    eval_set = load_eval_set(
        args.data,
        args.split,
        window_seconds=window_seconds(config),
        languages=args.langs,
        tasks=tasks,
        allow_test=True,
    )
    evaluator = Evaluator(
        model, tokenizer, eval_set, batch_size=batch_size, device=device, max_new_tokens=max_new_tokens
    )
    result = evaluator.evaluate(limit, progress=sys.stderr.isatty())  # stderr: --json keeps stdout clean
    if args.json:
        print(json.dumps(result.cells, indent=2, allow_nan=False))
    else:
        _print_table(result.cells)
    rate = result.n / result.decode_seconds if result.decode_seconds else float("inf")
    print(
        f"{args.split}: {result.n} utterances ({result.n_clips} clips) decoded in {result.decode_seconds:.1f} s "
        f"({rate:.1f} utt/s) on {device}",
        file=sys.stderr,
    )
    return 0


def _check_finite(model: Any, model_dir: str) -> None:
    """Refuse NaN or infinite weights, as merge does: they decode to garbage that would be scored as if real."""
    import torch

    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise UserError(f"--model {model_dir}: tensor {name!r} holds NaN or infinite values")


def _positive(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except ValueError:
        raise UserError(f"{flag} must be a positive integer, got {value!r}") from None
    if number < 1:
        raise UserError(f"{flag} must be a positive integer, got {value!r}")
    return number


def _print_table(cells: dict[str, dict[str, float | int]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="per language and task")
    for column in ("language", "task", "n", "WER %", "CER %", "BLEU", "chrF"):
        table.add_column(column, justify="left" if column in ("language", "task") else "right")
    for key, metrics in cells.items():
        language, task = key.split("/")
        if task == "transcribe":
            values = [f"{100 * metrics['wer']:.2f}", f"{100 * metrics['cer']:.2f}", "", ""]
        else:
            values = ["", "", f"{metrics['bleu']:.2f}", f"{metrics['chrf']:.2f}"]
        table.add_row(language, task, str(metrics["n"]), *values)
    Console().print(table)
