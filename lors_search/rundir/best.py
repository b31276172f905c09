"""Which trial is the run's best, and the files that name it.

The best by the search objective is the COMPLETE full-fidelity trial with the best first objective (ties: the
earlier trial); the recorder keeps it in best.yaml / best.json as the search goes. The run's winner is that
trial unless honest selection (lors_search.search.selection) re-scored the candidates on held-out dev clips:
then selection.json names the winner and winner.yaml holds its merge config, and export and report take it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from lors_search.fsutil import read_json_if_present
from lors_search.rundir.files import RunDir, write_json, write_text
from lors_search.rundir.records import TrialRecord


def is_full_fidelity(record: TrialRecord, rungs: Sequence[int] = ()) -> bool:
    """COMPLETE and scored on the last rung (`rungs`: the run's rungs, ascending; empty: COMPLETE suffices)."""
    n = record.n_per_language
    return record.state == "COMPLETE" and (not rungs or n is None or n >= rungs[-1])


def ranked(trials: Iterable[TrialRecord], mode: str, rungs: Sequence[int] = ()) -> list[TrialRecord]:
    """The trials that can be the best (full fidelity, finite first objective), best first; ties: the earlier."""
    sign = 1.0 if mode == "max" else -1.0
    candidates = [
        t for t in trials if is_full_fidelity(t, rungs) and t.objective is not None and math.isfinite(t.objective)
    ]
    return sorted(candidates, key=lambda t: (-sign * float(t.objective), t.number))  # type: ignore[arg-type]


def best_trial(trials: Iterable[TrialRecord], mode: str, rungs: Sequence[int] = ()) -> TrialRecord | None:
    """The best trial by the search objective, or None when no trial can be."""
    order = ranked(trials, mode, rungs)
    return order[0] if order else None


def winner(
    trials: Mapping[int, TrialRecord], mode: str, rungs: Sequence[int] = (), selection: Mapping[str, Any] | None = None
) -> TrialRecord | None:
    """The run's winner: selection.json's when the run has one (and the trial is recorded), else `best_trial`."""
    if selection is not None and int(selection["winner"]) in trials:
        return trials[int(selection["winner"])]
    return best_trial(trials.values(), mode, rungs)


def write_best(run_dir: RunDir, record: TrialRecord) -> None:
    """best.yaml (the trial's merge config) and best.json (its number, objectives, dev metrics and rung)."""
    write_text(run_dir.best_yaml, record.merge_config_yaml)
    best = {
        "trial": record.number,
        "objective": record.objective,
        "objectives": dict(record.objectives),
        "metrics": record.cells,
        "n_per_language": record.n_per_language,
    }
    write_json(run_dir.best_json, best, indent=2)


def read_selection(root: Path) -> dict[str, Any] | None:
    """selection.json of the run at `root`, or None when the run has none."""
    return read_json_if_present(RunDir(Path(root)).selection_json)


def write_selection(root: Path, document: Mapping[str, Any], winner_yaml: str) -> Path:
    """winner.yaml (the selected trial's merge config), then selection.json; returns winner.yaml's path."""
    run_dir = RunDir(Path(root))
    write_text(run_dir.winner_yaml, winner_yaml)
    write_json(run_dir.selection_json, document, indent=1)
    return run_dir.winner_yaml
