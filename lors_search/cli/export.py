"""`lors-search export`: a search run's best (or chosen) trial -> a verified Hugging Face Whisper checkpoint
(thin wiring of lors_search.export.command)."""

from __future__ import annotations

import argparse


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


def run(args: argparse.Namespace) -> int:
    from lors_search.export.command import export_command

    return export_command(
        args.run_dir, args.out, trial=args.trial, force=args.force, device=args.device, tolerance=args.tolerance
    )
