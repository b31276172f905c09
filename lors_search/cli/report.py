"""`lors-search report`: a search run -> HTML page + PNG plots (thin wiring of lors_search.report)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lors_search.errors import UserError
from lors_search.fsutil import check_output_location, check_writable

if TYPE_CHECKING:
    from lors_search.rundir import SearchRun


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "report",
        help="write an HTML report (plots and tables) of a search run",
        description=(
            "Write an HTML page with PNG plots of a search run: the objective by trial, a per-layer heatmap of the "
            "best configuration, the Pareto front (multi-objective runs), and a per-language table of the best merge "
            "against the base, the experts, task arithmetic, paper-default LoRS and the space's compare models on dev "
            "(with --test also on test, a final check never used for selection). The plots go to <stem>_files/ "
            "beside the page. The Optuna study also opens in optuna-dashboard: "
            ".venv/bin/optuna-dashboard sqlite:///runs/<name>/study.db (pip install optuna-dashboard)."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN", help="the search's run directory, e.g. runs/<name>")
    parser.add_argument("--out", metavar="FILE.html", help="page to write (default: RUN/report.html; replaced)")
    parser.add_argument(
        "--test", action="store_true", help="also score every model on the test split (a final check, never for selection)"
    )
    parser.add_argument(
        "--no-compare", action="store_true", help="skip the model comparison (no evaluation: quick, e.g. while searching)"
    )
    parser.add_argument("--device", default="auto", metavar="DEV", help="cpu, cuda or auto (default: cuda if present)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lors_search.evaluation.model_dir import resolve_device
    from lors_search.rundir import SearchRun
    from lors_search.report import build_report, dashboard_command

    def progress(message: str) -> None:
        print(f"lors-search report: {message}", flush=True)

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    search_run = SearchRun(args.run_dir)
    _check_output(args, search_run)
    result = build_report(
        search_run,
        args.out,
        test=args.test,
        compare=not args.no_compare,
        device=resolve_device(args.device),
        progress=progress,
        bar=sys.stderr.isatty(),
    )
    best = "no complete trial yet" if result.best is None else f"best trial {result.best.number}"
    extras = " (with the test-split final check)" if result.test else ""
    print(
        f"wrote {result.html} and {len(result.plots)} plot(s) in {result.files}{extras}; {best}. "
        f"Explore the study: {dashboard_command(search_run)}{_install_hint()}"
    )
    return 0


def _check_output(args: argparse.Namespace, search_run: SearchRun) -> None:
    """The page and its plot folder replace what is there: refuse, before any evaluation, a location that
    overlaps what the report reads (the run's files, its checkpoints and data) or that cannot be written."""
    from lors_search.cli.export import run_inputs
    from lors_search.report import files_dir

    html = Path(args.out).expanduser().resolve() if args.out else search_run.root / "report.html"
    # Earlier reports (pages and their *_files folders) are outputs, not inputs: a report may replace them.
    run_files = [
        (f"run file {entry.name}", entry)
        for entry in sorted(search_run.root.iterdir())
        if not (entry.suffix.lower() in (".html", ".htm") or (entry.is_dir() and entry.name.endswith("_files")))
    ]
    inputs: list[tuple[str, str | Path | None]] = list(run_files)
    try:
        inputs += run_inputs(search_run)
    except UserError:
        pass  # a space whose files are gone: --no-compare still reports, and nothing of theirs can be hit
    for target in (html, files_dir(html)):
        check_output_location(target, inputs)
    check_writable(html)


def _install_hint() -> str:
    """optuna-dashboard is an optional extra; say how to get it rather than print a command that fails."""
    import importlib.util

    if importlib.util.find_spec("optuna_dashboard") is not None:
        return ""
    return " (install it first: .venv/bin/pip install -e '.[dashboard]')"
