"""trials.parquet: one row per finished trial (`TrialRecord.to_row`), keyed by the Optuna trial number and
rewritten whole, atomically (temporary file, fsync, rename), after each trial."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from lors_search.rundir.best import best_trial
from lors_search.rundir.records import STATES, TrialRecord


class TrialTable:
    """The records of trials.parquet by trial number. A trial recorded once is never replaced by a later record
    of the same number (a resumed run may run it again)."""

    def __init__(self, path: Path, records: Mapping[int, TrialRecord] | None = None) -> None:
        """The table at `path` as on disk, or holding `records` (the file is then not read: a snapshot to write)."""
        self.path = Path(path)
        self.records: dict[int, TrialRecord] = dict(records or {})
        if records is None and self.path.exists():
            import pandas as pd

            for raw in pd.read_parquet(self.path).to_dict(orient="records"):
                record = TrialRecord.from_row(raw)
                self.records[record.number] = record

    def __contains__(self, number: object) -> bool:
        return number in self.records

    def add(self, record: TrialRecord) -> bool:
        """Record `record` and rewrite the file; False (nothing written) when the trial is already recorded.
        When the write fails the record is forgotten again (not on disk: a resumed run runs it again)."""
        if record.number in self.records:
            return False
        self.records[record.number] = record
        try:
            self.write()
        except BaseException:
            del self.records[record.number]
            raise
        return True

    def write(self) -> None:
        import pandas as pd

        frame = pd.DataFrame([self.records[k].to_row() for k in sorted(self.records)])
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
        for record in self.records.values():
            out[record.state] += 1
        return out

    def best(self, mode: str) -> TrialRecord | None:
        """The COMPLETE (full-fidelity) record with the best first objective (lors_search.rundir.best)."""
        return best_trial(self.records.values(), mode)
