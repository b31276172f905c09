"""One driver per run directory (lors_search.rundir.lock), without Ray: a second holder in another process is
refused with one line naming the first, a new run racing for an existing directory is refused without touching
it, the lock goes with its process (also a killed one), a new run that fails before run.json leaves no
directory, and the search session taken under the lock (names, Tune folder) is new every time."""

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
with hold_run(RunDir(Path(sys.argv[1])), create=sys.argv[2] == "new"):
    print("held", flush=True)
    time.sleep(120)
"""


def _hold_elsewhere(root: Path, mode: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(root), mode], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_driver_of_a_held_run_is_refused_in_one_line(tmp_path: Path) -> None:
    root = tmp_path / "runs" / "twin"
    other = _hold_elsewhere(root, "new")
    try:
        with pytest.raises(UserError) as resume:
            with hold_run(RunDir(root), create=False):
                pass
        message = str(resume.value)
        assert "\n" not in message and "is in use" in message and f"pid {other.pid}" in message
        with pytest.raises(UserError, match="is in use"):  # a new run of the same name: refused, not created
            with hold_run(RunDir(root), create=True):
                pass
        assert root.is_dir() and sorted(p.name for p in root.iterdir()) == ["search.lock"]
        for resume in (True, False):  # the CLI's first check says why, though the run has no run.json yet
            with pytest.raises(UserError, match="is in use"):
                check_run_dir(tmp_path / "runs", "twin", resume=resume)
    finally:
        other.send_signal(signal.SIGKILL)  # the kernel drops a killed process's flock
        other.wait()
    with hold_run(RunDir(root), create=False):
        assert f"pid {os.getpid()} " in (root / "search.lock").read_text()
        with hold_run(RunDir(root), create=False):  # re-entrant in one process (command, then run_search)
            pass
    assert (root / "search.lock").read_text() == ""
    with pytest.raises(UserError, match="already exists; pass --resume"):  # not held, but there
        with hold_run(RunDir(root), create=True):
            pass


def test_a_new_run_that_fails_before_run_json_leaves_no_directory(tmp_path: Path) -> None:
    root = tmp_path / "runs" / "failed"
    with pytest.raises(RuntimeError):
        with hold_run(RunDir(root), create=True):
            assert root.is_dir()
            raise RuntimeError("Ray did not start")
    assert not root.exists()
    with pytest.raises(RuntimeError):  # once run.json exists, the directory is the run's: kept
        with hold_run(RunDir(root), create=True):
            (root / "run.json").write_text("{}")
            raise RuntimeError("references failed")
    assert (root / "run.json").is_file()


def test_each_session_has_its_own_namespace_and_tune_experiment(tmp_path: Path) -> None:
    run_dir = RunDir(tmp_path / "twin")
    with hold_run(run_dir, create=True):
        first = new_session(run_dir, resume=False)
        assert first.study_name.startswith("twin-") and first.number == 1
        assert first.namespace == f"lors-search/{first.study_name}/session-1"
        (run_dir.run_json).write_text(json.dumps({"study_name": first.study_name}))
    (run_dir.tune_dir / "session-2").mkdir()  # a Tune folder of an older version of lors-search
    with hold_run(run_dir, create=False):
        again = new_session(run_dir, resume=True)
    assert again == SearchSession(first.study_name, 3) and (run_dir.tune_dir / again.experiment).is_dir()
    assert [session_number(p.name) for p in sorted(run_dir.tune_dir.iterdir())] == [2, 1, 3]
    other = RunDir(tmp_path / "elsewhere" / "twin")  # the same run name in another runs directory
    with hold_run(other, create=True):
        assert new_session(other, resume=False).namespace != first.namespace

