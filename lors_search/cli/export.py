"""`lors-search export`: a search run's best (or chosen) trial -> a verified Hugging Face Whisper checkpoint
(thin wiring of lors_search.export)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from lors_search.cli.guards import Inputs, space_inputs
from lors_search.fsutil import check_output_location, check_writable

if TYPE_CHECKING:
    from lors_search.rundir import SearchRun


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "export",
        help="export the best (or a chosen) trial of a search as a Whisper checkpoint",
        description=(
            "Merge the best COMPLETE full-fidelity trial of a search run (or --trial N) into a Hugging Face "
            "Whisper checkpoint with its merge config and a model card, re-evaluate the saved model on the same "
            "dev data and fail unless the metrics equal the trial's. Written through a temporary directory: "
            "nothing is left at --out on failure or interruption."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN", help="the search's run directory, e.g. runs/<name>")
    parser.add_argument("--trial", type=int, metavar="N", help="Optuna trial number (default: the best)")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory to write (must not exist)")
    parser.add_argument("--force", action="store_true", help="replace DIR if it exists (only once verified)")
    parser.add_argument(
        "--device", default="auto", metavar="DEV", help="cpu, cuda or auto (default: cuda if present, as the search's workers)"
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.0,
        metavar="T",
        help=(
            "accept re-measured metrics within T (absolute; WER as a fraction, BLEU 0-100) of the trial's; "
            "default 0 = exact, only loosen it when exporting on another kind of device than the search ran on"
        ),
    )
    parser.set_defaults(func=run)


def run_inputs(search_run: SearchRun) -> Inputs:
    """The checkpoints, data and compare models a run's space names (what export and report read)."""
    return space_inputs(search_run.space())


def run(args: argparse.Namespace) -> int:
    from lors_search.evaluation.model_dir import resolve_device
    from lors_search.export import export_trial
    from lors_search.export.exporter import describe_cells
    from lors_search.rundir import SearchRun

    def progress(message: str) -> None:
        print(f"lors-search export: {message}", flush=True)

    search_run = SearchRun(args.run_dir)
    # The run directory (its Tune experiment, study, trials) and the checkpoints and data it names are inputs:
    # --force replaces the output, so an output overlapping any of them would destroy it.
    check_output_location(args.out, [("run directory", search_run.root)])
    check_output_location(args.out, run_inputs(search_run))
    check_writable(args.out)
    result = export_trial(
        search_run,
        args.out,
        trial=args.trial,
        force=args.force,
        device=resolve_device(args.device),
        tolerance=args.tolerance,
        progress=progress,
        bar=sys.stderr.isatty(),
    )
    how = "equal to" if result.tolerance == 0 else f"within {result.tolerance:g} of"
    print(
        f"exported trial {result.trial.number} of run {search_run.name} to {result.out} in {result.seconds:.1f} s; "
        f"dev metrics re-measured from disk {how} the trial's: {describe_cells(result.cells)}"
    )
    return 0
