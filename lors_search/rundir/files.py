"""The files of a run directory `runs/<name>/` and run.json, the run's own record (docs/search.md).

space.yaml (the resolved space), run.json, study.db (the Optuna study), trials.parquet (one row per finished
trial), best.yaml / best.json (the best full-fidelity trial by the search objective), selection.json /
winner.yaml (honest selection), tune/ (one Ray Tune experiment per driver session, never read back),
console.log, report.html and, while a driver that started its own local Ray runs, ray-processes.json. Beside the
directory, `.<name>.lock` is held by the driver running the run (lors_search.rundir.lock).
Every file is replaced atomically (lors_search.fsutil), so a killed driver leaves each either old or new.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lors_search import __version__
from lors_search.errors import UserError
from lors_search.fsutil import atomic_write_text

SPACE_YAML = "space.yaml"
RUN_JSON = "run.json"
STUDY_DB = "study.db"
TRIALS_PARQUET = "trials.parquet"
BEST_YAML = "best.yaml"
BEST_JSON = "best.json"
SELECTION_JSON = "selection.json"
WINNER_YAML = "winner.yaml"  # the selected trial's merge config (`lors-search merge --config` reproduces it)
TUNE_DIR = "tune"
PROCESSES_FILE = "ray-processes.json"
LOG_FILE = "console.log"
REPORT_FILE = "report.html"


@dataclass(frozen=True)
class RunDir:
    """The paths of one run directory, and run.json read and written with int rung keys."""

    root: Path

    @property
    def space_yaml(self) -> Path:
        return self.root / SPACE_YAML

    @property
    def run_json(self) -> Path:
        return self.root / RUN_JSON

    @property
    def study_db(self) -> Path:
        return self.root / STUDY_DB

    @property
    def trials_parquet(self) -> Path:
        return self.root / TRIALS_PARQUET

    @property
    def best_yaml(self) -> Path:
        return self.root / BEST_YAML

    @property
    def best_json(self) -> Path:
        return self.root / BEST_JSON

    @property
    def selection_json(self) -> Path:
        return self.root / SELECTION_JSON

    @property
    def winner_yaml(self) -> Path:
        return self.root / WINNER_YAML

    @property
    def tune_dir(self) -> Path:
        return self.root / TUNE_DIR

    @property
    def processes_json(self) -> Path:
        """The local Ray processes of the driver running now (lors_search.runtime.reaper); absent when none."""
        return self.root / PROCESSES_FILE

    @property
    def lock_file(self) -> Path:
        """`<runs dir>/.<name>.lock`, beside the run directory: locked (flock) by the driver running the run
        (lors_search.rundir.lock)."""
        return self.root.parent / f".{self.root.name}.lock"

    @property
    def log_file(self) -> Path:
        return self.root / LOG_FILE

    @property
    def report_html(self) -> Path:
        return self.root / REPORT_FILE

    @property
    def storage_url(self) -> str:
        return f"sqlite:///{self.study_db.resolve()}"

    def read_run(self) -> dict[str, Any]:
        """run.json, its `references_per_rung` keyed by int rungs."""
        try:
            text = self.run_json.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UserError(f"{self.root} is not a search run (no {RUN_JSON})") from None
        try:
            return parse_run(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"{self.run_json} is not valid JSON: {exc}") from None

    def write_run(self, run: Mapping[str, Any]) -> None:
        """Replace run.json (JSON turns the int rung keys into strings; `read_run` turns them back)."""
        write_json(self.run_json, run, indent=2)

    def update_run(self, **changes: Any) -> dict[str, Any]:
        run = self.read_run()
        run.update(changes)
        self.write_run(run)
        return run


def parse_run(text: str) -> dict[str, Any]:
    """run.json's text as a dict whose rung-keyed mapping (`references_per_rung`) has int keys."""
    run = json.loads(text)
    if not isinstance(run, dict):
        raise json.JSONDecodeError("run.json holds no object", text, 0)
    if isinstance(run.get("references_per_rung"), Mapping):
        run["references_per_rung"] = rung_keyed(run["references_per_rung"])
    return run


def rung_keyed(mapping: Mapping[Any, Any]) -> dict[int, Any]:
    """A mapping keyed by rung (clips per language) with int keys, from JSON's string keys."""
    return {int(key): value for key, value in mapping.items()}


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, tuple | set):
        return list(value)
    return str(value)


def write_json(path: Path, document: Any, *, indent: int) -> None:
    """Replace `path` with `document` as JSON (numpy scalars as numbers), atomically, readable by others."""
    atomic_write_text(path, json.dumps(document, indent=indent, default=_json_default) + "\n")
    readable(path)


def write_text(path: Path, text: str) -> None:
    atomic_write_text(path, text)
    readable(path)


def readable(path: Path) -> None:
    # Run files are ordinary results that others may read, whatever the umask of the driver.
    try:
        os.chmod(path, 0o644)
    except OSError:
        pass


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
