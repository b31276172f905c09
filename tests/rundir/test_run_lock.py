"""One driver per run (lors_search.rundir.lock), without Ray: a second holder in another process is refused
with one line naming the first (also by the first check of a run that has no directory yet), the lock goes with
its process (also a killed one), and the search session taken under the lock (namespace, Tune folder) is new
every time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lors_search.errors import UserError
from lors_search.rundir import RunDir, hold_run
from lors_search.runtime.names import SearchSession, session_number
from lors_search.search.driver import check_run_dir, new_session

HOLDER = """
import sys, time
from pathlib import Path
from lors_search.rundir import RunDir, hold_run
with hold_run(RunDir(Path(sys.argv[1]))):
    print("held", flush=True)
    time.sleep(120)
"""


def _hold_elsewhere(root: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(root)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_driver_of_a_held_run_is_refused_in_one_line(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    root = runs / "twin"
    other = _hold_elsewhere(root)
    try:
        with pytest.raises(UserError) as refused:
            with hold_run(RunDir(root)):
                pass
        message = str(refused.value)
        assert "\n" not in message and "is in use" in message and f"pid {other.pid}" in message
        for resume in (True, False):  # the CLI's first check says why, though the run has no directory yet
            with pytest.raises(UserError, match="is in use"):
                check_run_dir(runs, "twin", resume=resume)
        assert sorted(p.name for p in runs.iterdir()) == [".twin.lock"]  # the run directory is not made
    finally:
        other.send_signal(signal.SIGKILL)  # the kernel drops a killed process's flock
        other.wait()
    with hold_run(RunDir(root)):
        assert (runs / ".twin.lock").read_text().startswith(f"pid {os.getpid()} on ")
        with hold_run(RunDir(root)):  # re-entrant in one process (the CLI, then run_search)
            pass
        check_run_dir(runs, "twin", resume=False)  # held by this process: not "in use"
    assert (runs / ".twin.lock").read_text() == ""


def test_each_session_has_its_own_namespace_and_tune_experiment(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "twin")
    with hold_run(run_dir):
        first = new_session(run_dir, resume=False)
    assert first.study_name.startswith("twin-") and first.number == 1
    assert first.namespace == f"lors-search/{first.study_name}/session-1"
    assert first.experiment == f"{first.study_name}-session-1"
    run_dir.tune_dir.mkdir(parents=True)  # what the first session's Tune made
    (run_dir.tune_dir / first.experiment).mkdir()
    (run_dir.tune_dir / "session-2").mkdir()  # a Tune folder of an older version of lors-search
    run_dir.run_json.write_text(json.dumps({"study_name": first.study_name}))
    with hold_run(run_dir):
        again = new_session(run_dir, resume=True)
    assert again == SearchSession(first.study_name, 3) and (run_dir.tune_dir / again.experiment).is_dir()
    assert sorted(session_number(p.name) for p in run_dir.tune_dir.iterdir()) == [1, 2, 3]
    with hold_run(run_dir):  # the reserved folder: a session killed before Tune started is never reused
        assert new_session(run_dir, resume=True).number == 4
    other = RunDir(tmp_path / "elsewhere" / "twin")  # the same run name in another runs directory
    with hold_run(other):
        assert new_session(other, resume=False).namespace != first.namespace
