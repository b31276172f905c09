"""What `lors-search export` does, as a library function the CLI and the demo's main job both call: refuse an
output that overlaps the run or what it reads, export the trial (lors_search.export.exporter), print the summary.
Returns the command's exit code."""

from __future__ import annotations

import os
import sys

from lors_search.evaluation.model_dir import resolve_device
from lors_search.export.exporter import describe_cells, export_trial
from lors_search.fsutil import check_output_location, check_writable
from lors_search.rundir import SearchRun
from lors_search.rundir.inputs import space_inputs


def export_command(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    trial: int | None = None,
    force: bool = False,
    device: str = "auto",
    tolerance: float = 0.0,
) -> int:
    """Export trial `trial` (default: the winner, else the best) of the run at `run_dir` to `out`."""

    def progress(message: str) -> None:
        print(f"lors-search export: {message}", flush=True)

    search_run = SearchRun(run_dir)
    # The run directory (its Tune experiment, study, trials) and the checkpoints and data it names are inputs:
    # --force replaces the output, so an output overlapping any of them would destroy it.
    check_output_location(out, [("run directory", search_run.root)])
    check_output_location(out, space_inputs(search_run.space()))
    check_writable(out)
    result = export_trial(
        search_run,
        out,
        trial=trial,
        force=force,
        device=resolve_device(device),
        tolerance=tolerance,
        progress=progress,
        bar=sys.stderr.isatty(),
    )
    how = "equal to" if result.tolerance == 0 else f"within {result.tolerance:g} of"
    print(
        f"exported trial {result.trial.number} of run {search_run.name} to {result.out} in {result.seconds:.1f} s; "
        f"dev metrics re-measured from disk {how} the trial's: {describe_cells(result.cells)}"
    )
    return 0
