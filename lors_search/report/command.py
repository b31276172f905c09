"""What `lors-search report` does, as a library function the CLI and the demo's main job both call: refuse a
page location that overlaps what the report reads, build the report (lors_search.report.builder), print where it
went. Returns the command's exit code."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from lors_search.errors import UserError
from lors_search.evaluation.model_dir import resolve_device
from lors_search.fsutil import check_output_location, check_writable
from lors_search.report.builder import build_report, dashboard_command, files_dir
from lors_search.rundir import SearchRun
from lors_search.rundir.inputs import space_inputs


def report_command(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    test: bool = False,
    test_candidates: bool = False,
    compare: bool = True,
    device: str = "auto",
) -> int:
    """Write the report of the run at `run_dir` to `out` (default: <run>/report.html); `test` also scores the
    compared models on the test split (a final check, never for selection), and `test_candidates` every selection
    candidate too; `compare` False skips the model comparison."""

    def progress(message: str) -> None:
        print(f"lors-search report: {message}", flush=True)

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    search_run = SearchRun(run_dir)
    check_report_output(out, search_run)
    result = build_report(
        search_run,
        out,
        test=test,
        test_candidates=test_candidates,
        compare=compare,
        device=resolve_device(device),
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


def check_report_output(out: str | os.PathLike[str] | None, search_run: SearchRun) -> None:
    """The page and its plot folder replace what is there: refuse, before any evaluation, a location that
    overlaps what the report reads (the run's files, its checkpoints and data) or that cannot be written."""
    html = Path(out).expanduser().resolve() if out else search_run.root / "report.html"
    # Earlier reports (pages and their *_files folders) are outputs, not inputs: a report may replace them.
    run_files = [
        (f"run file {entry.name}", entry)
        for entry in sorted(search_run.root.iterdir())
        if not (entry.suffix.lower() in (".html", ".htm") or (entry.is_dir() and entry.name.endswith("_files")))
    ]
    inputs: list[tuple[str, str | Path | None]] = list(run_files)
    try:
        inputs += space_inputs(search_run.space())
    except UserError:
        pass  # a space whose files are gone: --no-compare still reports, and nothing of theirs can be hit
    for target in (html, files_dir(html)):
        check_output_location(target, inputs)
    check_writable(html)


def _install_hint() -> str:
    """optuna-dashboard is an optional extra; say how to get it rather than print a command that fails."""
    if importlib.util.find_spec("optuna_dashboard") is not None:
        return ""
    return " (install it first: .venv/bin/pip install -e '.[dashboard]')"
