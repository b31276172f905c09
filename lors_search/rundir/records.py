"""`TrialRecord`: one finished trial as trials.parquet keeps it, typed (number, state, objectives, the rung it
reached, sampled parameters, dev metrics per cell, merge config, timings), and the trial states.

trials.parquet stores one flat row per record, its columns documented in docs/search.md (`objective:<name>`,
`param:<name>`, `metric:<lang>/<task>:<wer|cer|bleu|chrf|n>`, ...); `to_row` and `from_row` are the only code
that knows that layout. Columns a record does not know are kept in `extra` and written back unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lors_search.errors import UserError

if TYPE_CHECKING:
    from lors_search.merge_config import MergeConfig

STATES = ("COMPLETE", "PRUNED", "FAIL")  # COMPLETE: every rung run; PRUNED: stopped early by ASHA; FAIL: raised
STATE_WORDS = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}
Cells = dict[str, dict[str, Any]]  # "<lang>/<task>" -> {"wer", "cer", "n"} or {"bleu", "chrf", "n"}

OBJECTIVE = "objective:"
PARAM = "param:"
METRIC = "metric:"
_HEAD = ("trial", "tune_trial_id", "state", "objective")
_TIMINGS = ("merge_seconds", "eval_seconds", "trial_seconds")
_TAIL = ("rows_decoded", "retries", "merge_config", "finished_at")
_KNOWN = frozenset((*_HEAD, "n_per_language", *_TIMINGS, *_TAIL))


@dataclass(frozen=True)
class TrialRecord:
    """A finished trial. `objective` is the first objective (None when the trial has none: it failed);
    `objectives` every objective by name in the run's order; `n_per_language` the dev clips per language of the
    last rung it reached; `params` the flat parameters Optuna sampled; `merge_config_yaml` the MergeConfig it
    was merged with (what `lors-search merge --config` reads)."""

    number: int
    state: str
    objective: float | None = None
    objectives: dict[str, float | None] = field(default_factory=dict)
    n_per_language: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    cells: Cells = field(default_factory=dict)
    merge_config_yaml: str = ""
    tune_trial_id: str | None = None
    merge_seconds: float | None = None
    eval_seconds: float | None = None
    trial_seconds: float | None = None
    rows_decoded: int | None = None
    retries: int = 0
    finished_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"trial {self.number}: unknown state {self.state!r}; expected one of {', '.join(STATES)}")

    # ---- trials.parquet --------------------------------------------------------------------------------------

    def to_row(self) -> dict[str, Any]:
        """The record as one row of trials.parquet (missing floats as NaN, as pandas keeps them)."""
        row: dict[str, Any] = {
            "trial": self.number,
            "tune_trial_id": self.tune_trial_id,
            "state": self.state,
            "objective": _nan(self.objective),
        }
        row.update({OBJECTIVE + name: _nan(value) for name, value in self.objectives.items()})
        row["n_per_language"] = self.n_per_language
        row.update({PARAM + name: value for name, value in self.params.items()})
        for cell in sorted(self.cells):
            row.update({f"{METRIC}{cell}:{metric}": value for metric, value in self.cells[cell].items()})
        row.update({name: _nan(getattr(self, name)) for name in _TIMINGS})
        row["rows_decoded"] = self.rows_decoded
        row["retries"] = self.retries
        row["merge_config"] = self.merge_config_yaml
        row["finished_at"] = self.finished_at
        row.update(self.extra)
        return row

    @classmethod
    def from_row(cls, raw: Mapping[str, Any]) -> TrialRecord:
        """A row of trials.parquet (as pandas reads it: numpy scalars, NaN for missing) as a record."""
        row = {key: plain_value(value) for key, value in raw.items()}
        objectives: dict[str, float | None] = {}
        params: dict[str, Any] = {}
        cells: Cells = {}
        extra: dict[str, Any] = {}
        for key, value in row.items():
            if key.startswith(OBJECTIVE):
                objectives[key.removeprefix(OBJECTIVE)] = value
            elif key.startswith(PARAM):
                if value is not None:
                    params[key.removeprefix(PARAM)] = value
            elif key.startswith(METRIC):
                if value is not None:
                    _, cell, metric = key.split(":", 2)
                    cells.setdefault(cell, {})[metric] = int(value) if metric == "n" else value
            elif key not in _KNOWN:
                extra[key] = value
        try:
            return cls(
                number=int(row["trial"]),
                state=str(row.get("state")),
                objective=row.get("objective"),
                objectives=objectives,
                n_per_language=_int(row.get("n_per_language")),
                params=params,
                cells=dict(sorted(cells.items())),
                merge_config_yaml=str(row.get("merge_config") or ""),
                tune_trial_id=row.get("tune_trial_id"),
                merge_seconds=row.get("merge_seconds"),
                eval_seconds=row.get("eval_seconds"),
                trial_seconds=row.get("trial_seconds"),
                rows_decoded=_int(row.get("rows_decoded")),
                retries=_int(row.get("retries")) or 0,
                finished_at=row.get("finished_at"),
                extra=extra,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"a row of trials.parquet is not a trial record ({exc})") from None

    # ---- the merge -------------------------------------------------------------------------------------------

    def merge_config(self) -> MergeConfig:
        """The trial's MergeConfig (parsed from its YAML); UserError when the record has none or it is invalid."""
        import yaml
        from pydantic import ValidationError

        from lors_search.merge_config import MergeConfig, describe_validation_error

        try:
            raw = yaml.safe_load(self.merge_config_yaml) if self.merge_config_yaml.strip() else None
        except yaml.YAMLError as exc:
            raise UserError(f"trial {self.number}: its merge_config is not valid YAML: {exc}") from None
        if not isinstance(raw, dict):
            raise UserError(
                f"trial {self.number} has no merge config in trials.parquet ({self.merge_config_yaml.strip()[:80]!r})"
            )
        try:
            return MergeConfig.model_validate(raw)
        except ValidationError as exc:
            raise UserError(f"trial {self.number}: merge config: {describe_validation_error(exc)}") from None


def plain_value(value: Any) -> Any:
    """A parquet cell as plain Python: numpy scalars -> Python, NaN (pandas' missing float) -> None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)
