"""Record the local Ray processes a search driver started, in its run directory, and reap them after the
driver was killed.

A SIGKILLed driver cannot stop the Ray it started: measured on Ray 2.60, `ray::DashboardAgent` and
`ray::RuntimeEnvAgent` (and at times raylet and gcs_server) outlive it, holding ports and ignoring SIGTERM.
While the search runs, `ProcessRecorder` rewrites `ray-processes.json` every few seconds with the driver and
every process below it (pid and start time). The next run of the same run directory (`search --resume`,
or `search --cleanup`) calls `reap`, which ends exactly those processes: by recorded PID, only when the
process at that PID started at the recorded time (a reused PID is another program), never by name and never
with `ray stop` (which would stop every Ray of the user). A record whose driver still runs is refused: that
run is in use.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lors_search.errors import UserError
from lors_search.fsutil import atomic_write_text

REFRESH_S = 2.0
TERM_WAIT_S = 3.0


def _psutil() -> Any:
    import ray  # noqa: F401 - Ray vendors psutil and puts it on sys.path on import

    import psutil

    return psutil


def _entry(proc: Any) -> dict[str, Any]:
    return {"pid": proc.pid, "started": proc.create_time(), "name": proc.name()}


def snapshot(driver_pid: int) -> list[dict[str, Any]]:
    """The driver and every live process below it (its local Ray: GCS, raylet, agents, workers)."""
    psutil = _psutil()
    out = []
    try:
        driver = psutil.Process(driver_pid)
        procs = [driver, *driver.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    for proc in procs:
        try:
            out.append(_entry(proc))
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
    return out


def write_record(path: Path, driver_pid: int, previous: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Write the driver and its processes to `path`, keeping earlier entries (a worker that exited is harmless
    to keep: reaping checks the start time). Returns the entries written."""
    entries = {(e["pid"], e["started"]): e for e in previous}
    now = snapshot(driver_pid)
    entries.update({(e["pid"], e["started"]): e for e in now})
    driver = next((e for e in now if e["pid"] == driver_pid), None)
    record = {"driver": driver, "processes": [e for e in entries.values() if e["pid"] != driver_pid]}
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    return list(entries.values())


class ProcessRecorder:
    """Rewrites the record every REFRESH_S seconds from a daemon thread until `stop()`, which removes it
    (after a clean end the driver stops its Ray itself)."""

    def __init__(self, path: Path, driver_pid: int | None = None) -> None:
        self.path = Path(path)
        self.driver_pid = os.getpid() if driver_pid is None else driver_pid
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._entries: list[dict[str, Any]] = []

    def start(self) -> None:
        if self._thread is not None:
            return
        self._refresh()  # before the first trial: a kill at any time after this finds the record
        self._thread = threading.Thread(target=self._loop, name="lors-process-recorder", daemon=True)
        self._thread.start()

    def _refresh(self) -> None:
        try:
            self._entries = write_record(self.path, self.driver_pid, self._entries)
        except OSError:
            pass  # a full or read-only disk must not stop the search; the last record stays

    def _loop(self) -> None:
        while not self._stop.wait(REFRESH_S):
            self._refresh()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        try:
            self.path.unlink()
        except OSError:
            pass


def _same(psutil: Any, entry: dict[str, Any] | None) -> Any:
    """The live process of `entry` (same PID and start time), else None."""
    if not entry:
        return None
    try:
        proc = psutil.Process(int(entry["pid"]))
        if abs(proc.create_time() - float(entry["started"])) < 0.05 and proc.status() != psutil.STATUS_ZOMBIE:
            return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, KeyError, TypeError, ValueError):
        pass
    return None


def reap(path: Path) -> list[int]:
    """End the processes a killed driver recorded in `path` and remove the record; the PIDs ended.

    Raises UserError when the recorded driver is still running (the run is in use). SIGTERM first, SIGKILL
    for what is left after TERM_WAIT_S (Ray's agents ignore SIGTERM)."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} is not a process record ({exc}); remove it if no search of this run is running") from None
    psutil = _psutil()
    driver = _same(psutil, record.get("driver"))
    if driver is not None and driver.pid != os.getpid():
        raise UserError(f"the run is in use: its search driver (pid {driver.pid}) is still running")
    mine = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    alive = [p for e in record.get("processes", []) if (p := _same(psutil, e)) is not None and p.pid not in mine]
    _end(psutil, alive)
    path.unlink(missing_ok=True)
    return sorted(p.pid for p in alive)


def children() -> set[tuple[int, float]]:
    """This process's descendants now, as (pid, start time)."""
    psutil = _psutil()
    out = set()
    for proc in psutil.Process().children(recursive=True):
        try:
            out.add((proc.pid, proc.create_time()))
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
    return out


def end_new_children(before: set[tuple[int, float]]) -> list[int]:
    """End this process's descendants that are not in `before` (a `children()` snapshot): what a failed local
    Ray start left running (GCS, raylet, dashboard), which Ray gives no handle to. The PIDs ended."""
    psutil = _psutil()
    new = []
    for pid, _ in children() - before:
        try:
            new.append(psutil.Process(pid))
        except psutil.NoSuchProcess:
            continue
    _end(psutil, new)
    return sorted(p.pid for p in new)


def _end(psutil: Any, procs: list[Any]) -> None:
    """SIGTERM, then SIGKILL for what is left after TERM_WAIT_S (Ray's agents ignore SIGTERM)."""
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, left = psutil.wait_procs(procs, timeout=TERM_WAIT_S)
    for proc in left:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(left, timeout=TERM_WAIT_S)

