"""`lors-search report`: a search run -> HTML page + PNG plots (thin wiring of lors_search.report.command)."""

from __future__ import annotations

import argparse


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
        "--test-candidates", action="store_true",
        help="with --test, also score every selection candidate on test (one whole test decoding each; without it, "
        "the winner, the recipes and candidates scored before)",
    )
    parser.add_argument(
        "--no-compare", action="store_true", help="skip the model comparison (no evaluation: quick, e.g. while searching)"
    )
    parser.add_argument("--device", default="auto", metavar="DEV", help="cpu, cuda or auto (default: cuda if present)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lors_search.report.command import report_command

    return report_command(
        args.run_dir, args.out, test=args.test, test_candidates=args.test_candidates, compare=not args.no_compare,
        device=args.device,
    )
