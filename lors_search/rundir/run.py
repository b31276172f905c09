"""`SearchRun`: a finished (or running) search's run directory, read-only and loaded lazily, as typed records
for export and report: run.json, trials.parquet, best.json, selection.json, space.yaml and the Optuna study."""

from __future__ import annotations

import json
import os
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lors_search.errors import UserError
from lors_search.rundir.best import is_full_fidelity, read_selection, winner
from lors_search.rundir.files import RUN_JSON, RunDir, parse_run
from lors_search.rundir.records import STATE_WORDS, STATES, TrialRecord
from lors_search.rundir.table import TrialTable

if TYPE_CHECKING:
    from lors_search.space import CompiledSpace


class SearchRun:
    """A run directory: `run` (run.json), `trials` (by number), `best` (best.json), `selection`, `space()`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.files = RunDir(self.root)
        if not self.root.is_dir():
            raise UserError(f"run directory {self.root} does not exist")
        if not self.files.run_json.is_file():
            raise UserError(f"{self.root} is not a search run (no {RUN_JSON}; runs are written by lors-search search)")
        try:
            self.run: dict[str, Any] = parse_run(self.files.run_json.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"cannot read {self.files.run_json}: {exc}") from None

    # ---- run.json -------------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return str(self.run.get("name") or self.root.name)

    @property
    def study_name(self) -> str:
        return str(self.run.get("study_name") or "")

    @property
    def objectives(self) -> list[tuple[str, str]]:
        """(name, mode) of every objective, the first being the trials' `objective`."""
        entries = self.run.get("objectives") or [{"name": "objective", "mode": "max"}]
        return [(str(entry["name"]), str(entry.get("mode", "max"))) for entry in entries]

    @property
    def objective_names(self) -> list[str]:
        return [name for name, _ in self.objectives]

    @property
    def mode(self) -> str:
        return self.objectives[0][1]

    @property
    def fidelity(self) -> list[int]:
        """Rungs (dev clips per language, ascending); the last is full fidelity."""
        return [int(n) for n in self.run.get("fidelity") or []]

    @property
    def references(self) -> dict[str, Any]:
        """{"base": cells, "experts": {name: cells}} at full fidelity (what run.json holds)."""
        return dict(self.run.get("references") or {})

    @property
    def storage_url(self) -> str:
        return f"sqlite:///{self.files.study_db}"

    # ---- trials ---------------------------------------------------------------------------------------------

    @cached_property
    def trials(self) -> dict[int, TrialRecord]:
        path = self.files.trials_parquet
        if not path.is_file():
            raise UserError(f"{self.root} has no {path.name} yet: no trial of the search has finished")
        try:
            records = TrialTable(path).records
        except UserError as exc:
            raise UserError(f"cannot read {path}: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds; the message is what matters
            raise UserError(f"cannot read {path}: {exc}") from None
        return dict(sorted(records.items()))

    @cached_property
    def best(self) -> dict[str, Any] | None:
        """best.json: the best trial by the search objective, as the recorder wrote it (None before the first)."""
        from lors_search.fsutil import read_json_if_present

        return read_json_if_present(self.files.best_json)

    @cached_property
    def selection(self) -> dict[str, Any] | None:
        """selection.json (honest selection), or None when the run has none."""
        return read_selection(self.root)

    def is_full_fidelity(self, trial: TrialRecord) -> bool:
        return is_full_fidelity(trial, self.fidelity)

    def best_trial(self) -> TrialRecord:
        """The run's winner (lors_search.rundir.best.winner): the trial honest selection chose on the held-out
        dev clips when the run has selection.json, else the best COMPLETE full-fidelity trial."""
        found = winner(self.trials, self.mode, self.fidelity, self.selection)
        if found is None:
            raise UserError(
                f"run {self.name} has no complete full-fidelity trial to export yet ({self.describe_counts() or 'no trials'})"
            )
        return found

    def trial(self, number: int | None) -> TrialRecord:
        """Trial `number` (None: the best), refusing trials that were pruned, failed or not run at full fidelity."""
        if number is None:
            return self.best_trial()
        record = self.trials.get(number)
        if record is None:
            known = sorted(self.trials)
            shown = ", ".join(map(str, known[:20])) + (" ..." if len(known) > 20 else "")
            raise UserError(f"run {self.name} has no finished trial {number} (finished trials: {shown or 'none'})")
        if record.state == "PRUNED":
            raise UserError(
                f"trial {number} was PRUNED (stopped early at {record.n_per_language} clips per language): its "
                "metrics are not full-fidelity; export a COMPLETE trial (leave out --trial for the best)"
            )
        if record.state == "FAIL":
            raise UserError(f"trial {number} FAILED and has no merge to export; export a COMPLETE trial")
        if not self.is_full_fidelity(record):
            raise UserError(
                f"trial {number} is {record.state} at {record.n_per_language} clips per language, below the full "
                f"fidelity {self.fidelity[-1]}; export a COMPLETE full-fidelity trial"
            )
        return record

    def describe_counts(self) -> str:
        """"3 complete, 1 pruned, 1 failed" (states with no trial left out)."""
        return ", ".join(f"{n} {STATE_WORDS[state]}" for state, n in self.state_counts().items() if n)

    def state_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for record in self.trials.values():
            counts[record.state] += 1
        return counts

    # ---- the space and the study ----------------------------------------------------------------------------

    @cached_property
    def _space(self) -> CompiledSpace:
        from lors_search.space import load_search_space

        path = self.files.space_yaml
        if not path.is_file():
            raise UserError(f"{self.root} has no {path.name}")
        return load_search_space(path)

    def space(self) -> CompiledSpace:
        """The resolved search space (its files are checked to exist; UserError otherwise)."""
        return self._space

    def load_study(self) -> Any:
        """The run's Optuna study (read from study.db)."""
        import optuna

        if not self.files.study_db.is_file():
            raise UserError(f"{self.root} has no {self.files.study_db.name}")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            return optuna.load_study(study_name=self.study_name, storage=self.storage_url)
        except KeyError:
            raise UserError(f"study {self.study_name!r} is not in {self.files.study_db}") from None
