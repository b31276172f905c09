"""Read a finished (or running) search's run directory `runs/<name>/` (docs/search.md): run.json, trials.parquet,
best.json, space.yaml and the Optuna study, as typed records for export and report. Read-only.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from lors_search.errors import UserError
from lors_search.search.rundir import plain_value

if TYPE_CHECKING:
    import pandas as pd

    from lors_search.merge_config import MergeConfig
    from lors_search.space import SearchSpace

STATES = ("COMPLETE", "PRUNED", "FAIL")
STATE_WORDS = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}
Cells = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class TrialRecord:
    """One row of trials.parquet: an Optuna trial number, its state, objectives, fidelity, sampled parameters,
    dev metrics per cell (`<lang>/<task>` -> {wer, cer, n} or {bleu, chrf, n}) and its merge config YAML."""

    number: int
    state: str
    objective: float | None
    objectives: dict[str, float | None]
    n_per_language: int | None
    params: dict[str, Any]
    cells: Cells
    merge_config_yaml: str
    row: dict[str, Any] = field(repr=False)

    @classmethod
    def from_row(cls, raw: Mapping[str, Any], objective_names: list[str]) -> TrialRecord:
        row = {key: plain_value(value) for key, value in raw.items()}
        cells: Cells = {}
        params: dict[str, Any] = {}
        for key, value in row.items():
            if key.startswith("metric:") and value is not None:
                _, cell, metric = key.split(":", 2)
                cells.setdefault(cell, {})[metric] = int(value) if metric == "n" else value
            elif key.startswith("param:") and value is not None:
                params[key.removeprefix("param:")] = value
        n = row.get("n_per_language")
        return cls(
            number=int(row["trial"]),
            state=str(row.get("state", "")),
            objective=row.get("objective"),
            objectives={name: row.get(f"objective:{name}") for name in objective_names},
            n_per_language=None if n is None else int(n),
            params=params,
            cells=dict(sorted(cells.items())),
            merge_config_yaml=str(row.get("merge_config") or ""),
            row=row,
        )

    def merge_config(self) -> MergeConfig:
        """The trial's MergeConfig (parsed from its YAML); UserError when the row has none or it is invalid."""
        from pydantic import ValidationError

        from lors_search.merge_config import MergeConfig, describe_validation_error

        try:
            raw = yaml.safe_load(self.merge_config_yaml) if self.merge_config_yaml.strip() else None
        except yaml.YAMLError as exc:
            raise UserError(f"trial {self.number}: its merge_config is not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise UserError(f"trial {self.number} has no merge config in trials.parquet ({self.merge_config_yaml.strip()[:80]!r})")
        try:
            return MergeConfig.model_validate(raw)
        except ValidationError as exc:
            raise UserError(f"trial {self.number}: merge config: {describe_validation_error(exc)}") from None


class SearchRun:
    """A run directory, loaded lazily: `run` (run.json), `trials` (by number), `best` (best.json), `space()`."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        if not self.root.is_dir():
            raise UserError(f"run directory {self.root} does not exist")
        run_json = self.root / "run.json"
        if not run_json.is_file():
            raise UserError(f"{self.root} is not a search run (no run.json; runs are written by lors-search search)")
        try:
            self.run: dict[str, Any] = json.loads(run_json.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"cannot read {run_json}: {exc}") from None

    # ---- run.json -------------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return str(self.run.get("name") or self.root.name)

    @property
    def study_name(self) -> str:
        return str(self.run.get("study_name") or "")

    @property
    def objectives(self) -> list[tuple[str, str]]:
        """(name, mode) of every objective, the first being `objective` in trials.parquet."""
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
        return f"sqlite:///{self.root / 'study.db'}"

    # ---- trials ---------------------------------------------------------------------------------------------

    @cached_property
    def frame(self) -> pd.DataFrame:
        import pandas as pd

        path = self.root / "trials.parquet"
        if not path.is_file():
            raise UserError(f"{self.root} has no trials.parquet yet: no trial of the search has finished")
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many kinds; the message is what matters
            raise UserError(f"cannot read {path}: {exc}") from None

    @cached_property
    def trials(self) -> dict[int, TrialRecord]:
        names = self.objective_names
        records = [TrialRecord.from_row(raw, names) for raw in self.frame.to_dict(orient="records")]
        return {record.number: record for record in sorted(records, key=lambda r: r.number)}

    @cached_property
    def best(self) -> dict[str, Any] | None:
        from lors_search.fsutil import read_json_if_present

        return read_json_if_present(self.root / "best.json")

    def is_full_fidelity(self, trial: TrialRecord) -> bool:
        rungs = self.fidelity
        return trial.state == "COMPLETE" and (not rungs or trial.n_per_language is None or trial.n_per_language >= rungs[-1])

    def best_trial(self) -> TrialRecord:
        """The run's winner: the trial honest selection chose on the held-out dev clips (selection.json) when the
        run has one, else the best COMPLETE full-fidelity trial by the first objective (ties: the earlier trial)."""
        from lors_search.search.selection import read_selection

        selection = read_selection(self.root)
        if selection is not None and int(selection["winner"]) in self.trials:
            return self.trials[int(selection["winner"])]
        candidates = [
            t
            for t in self.trials.values()
            if self.is_full_fidelity(t) and t.objective is not None and math.isfinite(t.objective)
        ]
        if not candidates:
            raise UserError(
                f"run {self.name} has no complete full-fidelity trial to export yet ({self.describe_counts() or 'no trials'})"
            )
        sign = 1.0 if self.mode == "max" else -1.0
        return max(candidates, key=lambda t: (sign * float(t.objective), -t.number))  # type: ignore[arg-type]

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
        return ", ".join(f"{n} {STATE_WORDS.get(state, state.lower())}" for state, n in self.state_counts().items() if n)

    def state_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for record in self.trials.values():
            counts[record.state] = counts.get(record.state, 0) + 1
        return counts

    # ---- the space ------------------------------------------------------------------------------------------

    @cached_property
    def _space(self) -> SearchSpace:
        from lors_search.space import load_search_space

        path = self.root / "space.yaml"
        if not path.is_file():
            raise UserError(f"{self.root} has no space.yaml")
        return load_search_space(path)

    def space(self) -> SearchSpace:
        """The resolved search space (its files are checked to exist; UserError otherwise)."""
        return self._space

    def load_study(self) -> Any:
        """The run's Optuna study (read from study.db)."""
        import optuna

        if not (self.root / "study.db").is_file():
            raise UserError(f"{self.root} has no study.db")
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        try:
            return optuna.load_study(study_name=self.study_name, storage=self.storage_url)
        except KeyError:
            raise UserError(f"study {self.study_name!r} is not in {self.root / 'study.db'}") from None
