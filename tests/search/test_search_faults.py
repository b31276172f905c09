"""Fault injection on the real CLI (`python -m lors_search search` in a subprocess, its own local Ray):

- the driver SIGKILLed at seeded random finished-trial counts, three times in a row, each time resumed: the
  final study and trials.parquet equal an uninterrupted run's with the same seeds (same parameters, same
  scores, no trial twice, the budget exactly), and the Ray processes each killed driver left are ended by
  the next run (by the PIDs recorded in the run directory);
- the run directory made read-only while the recorder writes: the search stops with one line on stderr,
  exit 2, and every trial recorded before is still there.
(A worker actor killed mid-trial: test_search_end_to_end.py.)
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
import ray  # noqa: F401 - puts Ray's vendored psutil on sys.path
import psutil

from search_fixtures import REPO, subprocess_env

pytestmark = pytest.mark.slow  # real searches in subprocesses, each with its own local Ray

BUDGET = 7


def _rows(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (FileNotFoundError, OSError, ValueError):
        return pd.DataFrame()


def _command(space: Path, runs: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lors_search", "search", str(space), "--runs-dir", str(runs), "--workers", "1",
            "--no-dashboard", *extra]


def _alive(entries: list[dict]) -> list[int]:
    out = []
    for entry in entries:
        try:
            proc = psutil.Process(entry["pid"])
            if abs(proc.create_time() - entry["started"]) < 0.05 and proc.status() != psutil.STATUS_ZOMBIE:
                out.append(entry["pid"])
        except psutil.NoSuchProcess:
            pass
    return out


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # cleanup after a failed test only: this test's own process group
    except (ProcessLookupError, PermissionError):
        pass


def _run_until(command: list[str], parquet: Path, rows: int, log: Path) -> tuple[subprocess.Popen, list[dict]]:
    """Start `command`, SIGKILL the driver alone once trials.parquet holds `rows` rows; the Ray processes
    recorded in the run directory at that moment."""
    with log.open("w") as out:
        proc = subprocess.Popen(command, env=subprocess_env(), cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    record = parquet.parent / "ray-processes.json"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and len(_rows(parquet)) < rows:
        time.sleep(0.1)
    if proc.poll() is not None or len(_rows(parquet)) < rows:
        _kill_group(proc.pid)
        pytest.fail(f"the search did not reach {rows} trials: {log.read_text()[-3000:]}")
    entries = json.loads(record.read_text())["processes"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    return proc, entries


def _load(run_dir: Path) -> optuna.Study:
    run = json.loads((run_dir / "run.json").read_text())
    return optuna.load_study(study_name=run["study_name"], storage=f"sqlite:///{run_dir / 'study.db'}")


def _trials(run_dir: Path) -> dict[int, tuple]:
    return {t.number: (t.state.name, t.params, t.value) for t in _load(run_dir).trials}


def test_driver_killed_three_times_ends_like_an_uninterrupted_run(write_space, tmp_path: Path) -> None:
    space = write_space("faults", budget={"num_samples": BUDGET}, data={"batch_size": 4})
    runs = tmp_path / "runs"
    baseline = subprocess.run(_command(space, tmp_path / "baseline"), env=subprocess_env(), cwd=REPO,
                              capture_output=True, text=True, timeout=300)
    assert baseline.returncode == 0, baseline.stdout[-3000:] + baseline.stderr[-3000:]

    run_dir = runs / "faults"
    parquet = run_dir / "trials.parquet"
    kill_at = sorted(random.Random(11).sample(range(1, BUDGET), 3))
    left_behind: list[int] = []
    previous: list[dict] = []  # the last driver's process entries
    procs = []
    try:
        for attempt, rows in enumerate(kill_at):
            extra = ("--resume",) if attempt else ()
            before = _rows(parquet)
            proc, entries = _run_until(_command(space, runs, *extra), parquet, rows, tmp_path / f"run{attempt}.log")
            procs.append(proc)
            if attempt:
                log = (tmp_path / f"run{attempt}.log").read_text()
                assert "ended" in log or not left_behind  # the previous driver's leftovers were reaped
                assert not _alive([e for e in previous if e["pid"] in left_behind]), log[-2000:]
            time.sleep(1.0)
            previous = entries
            left_behind = _alive(entries)  # what Ray leaves when its driver is SIGKILLed
            after = _rows(parquet)
            kept = after.set_index("trial").loc[before["trial"]] if len(before) else after.iloc[:0]
            assert kept["finished_at"].tolist() == before.get("finished_at", pd.Series(dtype=str)).tolist()

        final = subprocess.run(_command(space, runs, "--resume", "--num-samples", str(BUDGET)),
                               env=subprocess_env(), cwd=REPO, capture_output=True, text=True, timeout=300)
        assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
        assert not _alive([e for e in previous if e["pid"] in left_behind])
    finally:
        for proc in procs:
            _kill_group(proc.pid)

    expected = _trials(tmp_path / "baseline" / "faults")
    got = _trials(run_dir)
    assert len(got) == BUDGET and got == expected  # same parameters, same scores, same states, no trial twice
    table = _rows(parquet)
    reference = _rows(tmp_path / "baseline" / "faults" / "trials.parquet")
    assert table["trial"].tolist() == list(range(BUDGET)) == reference["trial"].tolist()
    columns = ["trial", "state", "objective", *[c for c in reference.columns if c.startswith(("param:", "metric:"))]]
    pd.testing.assert_frame_equal(table[columns], reference[columns])
    counts = table["state"].value_counts().to_dict()
    assert f"({counts.get('COMPLETE', 0)} complete, {counts.get('PRUNED', 0)} pruned, 0 failed)" in final.stdout
    assert not (run_dir / "ray-processes.json").exists()


def _freeze(path: Path) -> None:
    """Make `path` refuse new files: chattr +i as root (root ignores permissions), else chmod 0555."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    else:
        path.chmod(0o555)


def _thaw(path: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(path)], check=False)
    else:
        path.chmod(0o755)


@pytest.mark.skipif(os.geteuid() == 0 and not shutil.which("chattr"),
                    reason="root without chattr cannot make a directory read-only")
def test_a_read_only_run_directory_stops_the_search_with_one_line(write_space, tmp_path: Path) -> None:
    space = write_space("frozen", budget={"num_samples": 6}, fidelity={"n_per_language": [None]})
    runs = tmp_path / "runs"
    run_dir = runs / "frozen"
    parquet = run_dir / "trials.parquet"
    proc = subprocess.Popen(_command(space, runs), env=subprocess_env(), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None and len(_rows(parquet)) < 2:
            time.sleep(0.05)
        _freeze(run_dir)
        before = _rows(parquet)
        assert 2 <= len(before) < 6
        out, err = proc.communicate(timeout=240)
    finally:
        _thaw(run_dir)
        if proc.poll() is None:
            _kill_group(proc.pid)
    assert proc.returncode == 2, out[-2000:] + err[-3000:]
    lines = err.strip().splitlines()
    assert "Traceback" not in err and lines[-1].startswith("lors-search") and "cannot write" in lines[-1], err[-3000:]
    assert str(parquet) in lines[-1]
    after = _rows(parquet)
    pd.testing.assert_frame_equal(after.iloc[: len(before)], before)  # nothing already finished is lost
    resumed = subprocess.run(_command(space, runs, "--resume"), env=subprocess_env(), cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    final = _rows(parquet)
    assert final["trial"].tolist() == list(range(6))
