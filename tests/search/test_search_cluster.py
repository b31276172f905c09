"""Reliability on clusters: a two-node cluster on one machine gets experts and workers on both nodes; a driver
killed with SIGKILL mid-search is resumed with --resume, losing no finished trial, and completes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

from search_fixtures import HERE, REPO, subprocess_env

pytestmark = pytest.mark.slow  # a two-node local Ray cluster and real searches in subprocesses


def test_two_node_cluster_places_experts_and_workers_on_both_nodes(write_space, tmp_path: Path) -> None:
    space = write_space("two-node", budget={"num_samples": 2})
    proc = subprocess.run(
        [sys.executable, str(HERE / "two_node_search.py"), str(space), str(tmp_path / "runs")],
        env=subprocess_env(), cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert sorted(result["workers"].values()) == ["a", "b"]
    assert sorted(result["experts"].values()) == ["a", "b"]
    assert result["status"] == "finished" and result["counts"]["FAIL"] == 0
    assert sum(result["counts"].values()) == 2


def _rows(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (FileNotFoundError, OSError, ValueError):
        return pd.DataFrame()


def test_driver_sigkill_then_resume_loses_no_finished_trial(write_space, tmp_path: Path) -> None:
    space = write_space("resumed", budget={"num_samples": 6}, data={"batch_size": 4})
    runs = tmp_path / "runs"
    command = [sys.executable, "-m", "lors_search", "search", str(space), "--runs-dir", str(runs),
               "--workers", "1", "--no-dashboard"]
    log = (tmp_path / "first.log").open("w")
    first = subprocess.Popen(command, env=subprocess_env(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
    parquet = runs / "resumed" / "trials.parquet"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and first.poll() is None and len(_rows(parquet)) < 2:
            time.sleep(0.2)
        assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert len(_rows(parquet)) >= 2, "the search did not finish 2 trials in time"
        before = _rows(parquet)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        # The killed driver's local Ray processes share its session: end them too.
        time.sleep(1)
        try:
            os.killpg(first.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        log.close()
    assert len(_rows(parquet)) >= len(before)
    run = json.loads((runs / "resumed" / "run.json").read_text())
    assert run["status"] == "running"  # killed: nothing could mark it

    second = subprocess.run(command + ["--resume"], env=subprocess_env(), cwd=REPO, capture_output=True,
                            text=True, timeout=300)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "resuming from study.db and trials.parquet" in second.stdout

    after = _rows(parquet)
    kept = after.set_index("trial").loc[before["trial"]]
    assert kept["state"].tolist() == before["state"].tolist()  # finished trials are never lost or replaced
    assert kept["finished_at"].tolist() == before["finished_at"].tolist()
    assert len(after) >= 6 and after["trial"].is_unique
    assert set(after["state"]) <= {"COMPLETE", "PRUNED"}
    run = json.loads((runs / "resumed" / "run.json").read_text())
    assert run["status"] == "finished"
    study = optuna.load_study(study_name=run["study_name"], storage=f"sqlite:///{runs / 'resumed' / 'study.db'}")
    assert not [t for t in study.trials if t.state.name in ("RUNNING", "WAITING")]
    recorded = {t.number: t.state.name for t in study.trials if t.number in set(after["trial"])}
    assert recorded == dict(zip(after["trial"], after["state"], strict=True))
