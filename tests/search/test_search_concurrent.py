"""Two searches on one Ray at once: a local head (`ray start --head`, 2 CPUs) and two `lors-search search
--address` drivers of runs with the same name in two runs directories, each on half the CPUs (`--cpus 1`).
Both finish with their own complete trials.parquet, study and Tune experiment; while both run, each one's
actors (the same names) live in its own Ray namespace and nowhere else; a third driver of one of the runs
stops with one line and changes nothing."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

from lors_search.runtime.local_ray import free_port
from search_fixtures import REPO, subprocess_env

pytestmark = pytest.mark.slow  # a Ray head and three drivers in subprocesses

RAY = str(Path(sys.executable).with_name("ray"))
NUM_SAMPLES = 3
ACTORS = {"lors/expert/de", "lors/expert/es", "lors/worker/0", "lors/pool"}

# Prints, as JSON lines, every change of the named actors of every lors-search namespace on the cluster.
OBSERVER = """
import json, sys, time
import ray
ray.init(address=sys.argv[1], logging_level="ERROR")
last = None
deadline = time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    seen = {}
    for actor in ray.util.list_named_actors(all_namespaces=True):
        if actor["namespace"].startswith("lors-search/"):
            seen.setdefault(actor["namespace"], []).append(actor["name"])
    seen = {ns: sorted(names) for ns, names in seen.items()}
    if seen != last:
        print(json.dumps(seen), flush=True)
        last = seen
    time.sleep(0.3)
"""


def _start_head(temp_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    command = [
        RAY, "start", "--head", "--block", "--num-cpus", "2", "--port", str(port), "--include-dashboard", "false",
        "--object-store-memory", str(100 * 1024 * 1024), "--temp-dir", str(temp_dir), "--disable-usage-stats",
    ]  # fmt: skip
    log = (temp_dir / "head.log").open("wb")
    head = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=subprocess_env(),
                            start_new_session=True, cwd=temp_dir)
    marker = temp_dir / "ray_current_cluster"
    deadline = time.monotonic() + 120
    while not marker.exists() and time.monotonic() < deadline and head.poll() is None:
        time.sleep(0.3)
    assert marker.exists(), (temp_dir / "head.log").read_text(errors="replace")[-3000:]
    return head, marker.read_text().strip()


def _stop(proc: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM to a process group this test started (`ray start --block` stops what it started), then SIGKILL."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def test_two_searches_on_one_ray_at_once(write_space, tmp_path: Path) -> None:
    space = write_space("twin", budget={"num_samples": NUM_SAMPLES})
    temp_dir = Path(tempfile.mkdtemp(prefix="lrsc", dir="/tmp"))  # short: AF_UNIX paths <= 107 bytes
    head, address = _start_head(temp_dir)
    env = subprocess_env()
    drivers: dict[str, subprocess.Popen[str]] = {}
    observer = None
    try:
        observer = subprocess.Popen([sys.executable, "-c", OBSERVER, address, "600"], env=env, cwd=REPO,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                    start_new_session=True)
        for label in ("a", "b"):
            command = [sys.executable, "-m", "lors_search", "search", str(space), "--name", "twin",
                       "--runs-dir", str(tmp_path / f"runs-{label}"), "--address", address, "--cpus", "1",
                       "--workers", "1"]  # fmt: skip
            drivers[label] = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True, start_new_session=True)
        # While both run: a snapshot with both namespaces, each holding exactly its own search's actors.
        both = None
        assert observer.stdout is not None
        for line in observer.stdout:
            seen = json.loads(line)
            if len(seen) == 2 and all(set(names) == ACTORS for names in seen.values()):
                both = seen
                break
            if all(d.poll() is not None for d in drivers.values()):
                break
        assert both is not None, "the two searches' actors were never alive at the same time"

        # A third driver of run a (it is running; its run.json may not exist yet): refused in one line, before
        # it touches Ray or the run.
        third = subprocess.run(
            [sys.executable, "-m", "lors_search", "search", str(space), "--name", "twin", "--runs-dir",
             str(tmp_path / "runs-a"), "--address", address, "--resume"],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert third.returncode == 2, third.stdout + third.stderr
        assert len(third.stderr.strip().splitlines()) == 1 and "is in use" in third.stderr, third.stderr
        assert drivers["a"].poll() is None, "run a ended before the third driver was refused; the test proves nothing"

        outputs = {}
        for label, driver in drivers.items():
            out, _ = driver.communicate(timeout=400)
            outputs[label] = out
            assert driver.returncode == 0, out[-4000:]
    finally:
        for proc in [*drivers.values(), observer]:
            if proc is not None:
                _stop(proc, timeout=10)
        _stop(head)
        shutil.rmtree(temp_dir, ignore_errors=True)

    runs = {label: json.loads((tmp_path / f"runs-{label}" / "twin" / "run.json").read_text()) for label in "ab"}
    assert runs["a"]["study_name"] != runs["b"]["study_name"]
    assert set(both) == {run["ray_namespace"] for run in runs.values()}
    for label, run in runs.items():
        root = tmp_path / f"runs-{label}" / "twin"
        assert run["status"] == "finished" and run["ray_namespace"] == f"lors-search/{run['study_name']}/session-1"
        assert f"Ray namespace {run['ray_namespace']}" in outputs[label]
        table = pd.read_parquet(root / "trials.parquet")
        assert sorted(table["trial"]) == list(range(NUM_SAMPLES)) and set(table["state"]) <= {"COMPLETE", "PRUNED"}
        study = optuna.load_study(study_name=run["study_name"], storage=f"sqlite:///{root / 'study.db'}")
        assert len(study.trials) == NUM_SAMPLES and all(t.state.is_finished() for t in study.trials)
        # Tune's experiment is the run's own (Tune stages experiments by name on the head: the names differ).
        assert [p.name for p in (root / "tune").iterdir()] == [f"{run['study_name']}-session-1"]
