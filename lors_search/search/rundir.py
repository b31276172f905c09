"""The run directory `runs/<name>/` (docs/search.md): space.yaml, run.json, study.db (Optuna), trials.parquet
(one row per finished trial, rewritten atomically), best.yaml / best.json (the best full-fidelity trial),
tune/ (one Ray Tune experiment per driver session, never read back) and, while a driver that started its own
local Ray runs, ray-processes.json. Every file is replaced atomically, so a killed driver leaves each either old
or new, never half-written."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lors_search import __version__
from lors_search.errors import UserError
from lors_search.fsutil import atomic_write_text

STATES = ("COMPLETE", "PRUNED", "FAIL")


@dataclass(frozen=True)
class RunDir:
    root: Path

    @property
    def space_yaml(self) -> Path:
        return self.root / "space.yaml"

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def study_db(self) -> Path:
        return self.root / "study.db"

    @property
    def trials_parquet(self) -> Path:
        return self.root / "trials.parquet"

    @property
    def best_yaml(self) -> Path:
        return self.root / "best.yaml"

    @property
    def best_json(self) -> Path:
        return self.root / "best.json"

    @property
    def tune_dir(self) -> Path:
        return self.root / "tune"

    @property
    def processes_json(self) -> Path:
        """The local Ray processes of the driver running now (lors_search.runtime.reaper); absent when none."""
        return self.root / "ray-processes.json"

    @property
    def storage_url(self) -> str:
        return f"sqlite:///{self.study_db.resolve()}"

    def read_run(self) -> dict[str, Any]:
        try:
            return json.loads(self.run_json.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"{self.root} is not a search run (no run.json)") from None
        except json.JSONDecodeError as exc:
            raise UserError(f"{self.run_json} is not valid JSON: {exc}") from None

    def write_run(self, run: Mapping[str, Any]) -> None:
        atomic_write_text(self.run_json, json.dumps(run, indent=2, sort_keys=False, default=_json_default) + "\n")
        _readable(self.run_json)

    def update_run(self, **changes: Any) -> dict[str, Any]:
        run = self.read_run()
        run.update(changes)
        self.write_run(run)
        return run


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def new_study_name(run_name: str) -> str:
    return f"{run_name}-{uuid.uuid4().hex[:8]}"


def new_run_record(
    *,
    name: str,
    study_name: str,
    space_source: str,
    objectives: Sequence[tuple[str, str]],
    data: Mapping[str, Any],
    fidelity: Sequence[int],
) -> dict[str, Any]:
    return {
        "name": name,
        "study_name": study_name,
        "created": now(),
        "lors_search_version": __version__,
        "space_source": space_source,
        "objectives": [{"name": n, "mode": m} for n, m in objectives],
        "references": {},
        "references_per_rung": {},
        "data": dict(data),
        "fidelity": list(fidelity),
        "status": "running",
    }


class TrialTable:
    """trials.parquet: one row per finished trial, keyed by the Optuna trial number. A trial recorded once
    is never replaced by a later record of the same number (a resumed run may re-run it)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rows: dict[int, dict[str, Any]] = {}
        if self.path.exists():
            import pandas as pd

            frame = pd.read_parquet(self.path)
            for record in frame.to_dict(orient="records"):
                row = {key: plain_value(value) for key, value in record.items()}
                self.rows[int(row["trial"])] = row

    def add(self, row: Mapping[str, Any]) -> bool:
        """Record `row` and rewrite the file; False (nothing written) when the trial is already recorded."""
        number = int(row["trial"])
        if number in self.rows:
            return False
        self.rows[number] = dict(row)
        self.write()
        return True

    def write(self) -> None:
        import pandas as pd

        frame = pd.DataFrame([self.rows[k] for k in sorted(self.rows)])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        os.close(fd)
        try:
            frame.to_parquet(tmp, index=False)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for row in self.rows.values():
            out[row["state"]] = out.get(row["state"], 0) + 1
        return out

    def best(self, mode: str) -> dict[str, Any] | None:
        """The COMPLETE (full-fidelity) row with the best first objective."""
        candidates = [
            row
            for row in self.rows.values()
            if row["state"] == "COMPLETE" and row.get("objective") is not None and math.isfinite(row["objective"])
        ]
        if not candidates:
            return None
        sign = 1.0 if mode == "max" else -1.0
        # Ties go to the earlier trial.
        return max(candidates, key=lambda row: (sign * row["objective"], -row["trial"]))


def plain_value(value: Any) -> Any:
    """A parquet cell as plain Python: numpy scalars -> Python, NaN (pandas' missing float) -> None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def cell_columns(cells: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """`metric:<lang>/<task>:<name>` columns of a trial's cells (wer/cer/bleu/chrf/n)."""
    out: dict[str, Any] = {}
    for cell in sorted(cells):
        for metric, value in cells[cell].items():
            out[f"metric:{cell}:{metric}"] = value
    return out


def cells_from_row(row: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    cells: dict[str, dict[str, Any]] = {}
    for key, value in row.items():
        if key.startswith("metric:") and value is not None:
            _, cell, metric = key.split(":", 2)
            cells.setdefault(cell, {})[metric] = value
    return cells


def _readable(path: Path) -> None:
    # mkstemp creates 0600 files; run files are ordinary results that others may read.
    try:
        os.chmod(path, 0o644)
    except OSError:
        pass


def write_best(run_dir: RunDir, row: Mapping[str, Any], objective_names: Sequence[str]) -> None:
    atomic_write_text(run_dir.best_yaml, row["merge_config"])
    best = {
        "trial": int(row["trial"]),
        "objective": row["objective"],
        "objectives": {name: row.get(f"objective:{name}") for name in objective_names},
        "metrics": cells_from_row(row),
        "n_per_language": row.get("n_per_language"),
    }
    atomic_write_text(run_dir.best_json, json.dumps(best, indent=2, default=_json_default) + "\n")
    _readable(run_dir.best_yaml)
    _readable(run_dir.best_json)
