"""Continue a search from the run directory's data files only: the Optuna study (SQLite rows) and
trials.parquet. Nothing from the run directory is unpickled (Ray Tune's tuner.pkl, experiment state and
searcher checkpoints hold pickles, so a run directory copied from elsewhere could run code on
`Tuner.restore`); the remaining budget runs as a fresh Tune experiment.

What a killed driver can leave, and what the continuation does with it:
- trials finished in the study and recorded in trials.parquet: kept, counted, never run again;
- trials asked but not recorded (running when the driver died, or told to the study just before the kill,
  which happens first, and not yet written to trials.parquet): run again under the same Optuna number with
  the parameters the study stored, so the study and the table end with one entry each;
- a row in trials.parquet whose study trial is still RUNNING (cannot happen in Tune 2.60's order, checked
  anyway): the study is told the row's outcome;
- seed points enqueued but never asked (WAITING): `study.ask()` still hands them out first.
The budget counts trials: `budget - asked` new ones are asked. ASHA's rung records are rebuilt from the
study's intermediate values of the recorded trials, so stop decisions match an uninterrupted run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from lors_search.rundir import TrialTable
from lors_search.search.searcher import FidelityOptunaSearch

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass(frozen=True)
class Continuation:
    """What a (re)started search still has to run. `rung_records`: ASHA level -> {Optuna number: objective}."""

    budget: int
    asked: int = 0
    redo: tuple[int, ...] = ()
    rung_records: Mapping[float, Mapping[int, float]] = field(default_factory=dict)
    trial_params: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)  # of the trials in rung_records

    @property
    def new(self) -> int:
        return max(0, self.budget - self.asked)

    @property
    def to_run(self) -> int:
        return len(self.redo) + self.new

    def describe(self) -> str:
        done = self.asked - len(self.redo)
        return f"{done} of {self.budget} trials finished; running {len(self.redo)} again and {self.new} new"


def study_counts(study: optuna.Study) -> dict[str, int]:
    """Finished trials per state, as the study holds them (the summary's source)."""
    out = {state.name: 0 for state in FINISHED}
    for trial in study.get_trials(deepcopy=False, states=FINISHED):
        out[trial.state.name] += 1
    return out


def plan_continuation(
    study: optuna.Study, table: TrialTable, budget: int, objective_names: Sequence[str], levels: Sequence[float]
) -> Continuation:
    """Reconcile the study with trials.parquet and say what is left of `budget`."""
    _tell_recorded(study, table, objective_names)
    asked = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
    redo = tuple(sorted(t.number for t in asked if t.number not in table))
    records: dict[float, dict[int, float]] = {}
    params: dict[int, Mapping[str, Any]] = {}
    for trial in asked:
        if trial.number not in table:
            continue  # run again: its rung scores are recorded when it reaches them
        for step, value in trial.intermediate_values.items():
            if 1 <= step <= len(levels) and math.isfinite(value):
                records.setdefault(levels[step - 1], {})[trial.number] = float(value)
                params[trial.number] = trial.params
    return Continuation(budget=budget, asked=len(asked), redo=redo, rung_records=records, trial_params=params)


def _tell_recorded(study: optuna.Study, table: TrialTable, objective_names: Sequence[str]) -> None:
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        record = table.records.get(trial.number)
        if record is None:
            continue
        state = TrialState[record.state]
        values = [record.objectives.get(name) for name in objective_names]
        if state == TrialState.COMPLETE and all(v is not None and math.isfinite(v) for v in values):
            study.tell(trial.number, values if len(values) > 1 else values[0])
        else:
            study.tell(trial.number, None, state=TrialState.PRUNED if state == TrialState.PRUNED else TrialState.FAIL)


def seed_rung_records(
    scheduler: Any, records: Mapping[float, Mapping[int, float]], params: Mapping[int, Mapping[str, Any]] = {}
) -> None:
    """Put earlier trials' rung scores into a `SeedFirstASHA` (Ray 2.60's `_Bracket._rungs`, a list of
    (milestone, {trial id: metric_op * score})), as its own `on_result` would have recorded them: each in the
    rungs of its trial's group (its method, in a methods search; `params` are the trials' flat parameters)."""
    if scheduler is None or not records:
        return
    op = float(scheduler._metric_op or 1.0)
    for level, scores in records.items():
        for number, value in sorted(scores.items()):
            bracket = scheduler.bracket_for(scheduler.group_of(params.get(number, {})))
            for milestone, recorded in bracket._rungs:
                if float(milestone) == float(level):
                    recorded[f"earlier-{number}"] = op * value


class ContinuingOptunaSearch(FidelityOptunaSearch):
    """FidelityOptunaSearch that first hands out the study's trials in `redo` (asked before a crash, never
    recorded) with their stored parameters, under their own Optuna numbers, then asks new trials."""

    def __init__(self, *args: Any, redo: Sequence[int] = (), **kwargs: Any) -> None:
        self._redo = list(redo)
        super().__init__(*args, **kwargs)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self._redo and trial_id not in self._ot_trials and self._ot_study is not None:
            number = self._redo.pop(0)
            stored = {t.number: t for t in self._ot_study.get_trials(deepcopy=False)}[number]
            # Suggesting on this Trial returns the parameters it already holds (Optuna's _suggest).
            self._ot_trials[trial_id] = optuna.Trial(self._ot_study, stored._trial_id)
        return super().suggest(trial_id)
