"""The real thing: `lors-search search search_spaces/smoke.yaml` on the quick demo, submitted with
`ray job submit` to a local head, reaches SUCCEEDED, writes its run directory, prints a progress line per
trial in the job's log, and publishes its `ray_lors_*` metrics on the head's metrics endpoint."""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dashboard_head import RayHead, run_samples, submit_job, wait_for_status
from prometheus_text import REPO_ROOT, Sample
from ray.job_submission import JobStatus, JobSubmissionClient
from ray.util.state import list_actors

SPACE = REPO_ROOT / "search_spaces" / "smoke.yaml"
LORS_SEARCH = str(Path(sys.executable).with_name("lors-search"))
# Gauges are visible only while the driver lives: on an idle machine 3 quick-demo trials finished between two
# polls of the endpoint (a red run), so the job runs long enough to span several 1-s metric reports.
NUM_SAMPLES = 10
EXPECTED_ACTORS = ("lors/expert/de", "lors/expert/es", "lors/expert/fr", "lors/worker/0", "lors/pool")


@pytest.mark.slow
def test_smoke_search_as_a_ray_job(ray_head: RayHead, quick_demo_dir: Path, tmp_path: Path) -> None:
    run = f"smoke-job-{uuid.uuid4().hex[:6]}"
    submission_id = f"lors-test-{run}"
    runs_dir = tmp_path / "runs"
    runtime_env = {"env_vars": {"LORS_DEMO_DIR": str(quick_demo_dir), "OMP_NUM_THREADS": "1"}}
    # The README's form: the console script, no --address (the job's RAY_ADDRESS says where the cluster is).
    entrypoint = [
        LORS_SEARCH, "search", str(SPACE),
        "--name", run, "--runs-dir", str(runs_dir), "--num-samples", str(NUM_SAMPLES),
    ]  # fmt: skip
    submit_job(ray_head, submission_id, entrypoint, ["--runtime-env-json", json.dumps(runtime_env)])
    client = JobSubmissionClient(ray_head.dashboard_url)

    # Gauges live only while the driver does: sample the endpoint (and the actors) while the job runs.
    seen: dict[str, Sample] = {}
    actors: dict[str, Any] = {}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not client.get_job_status(submission_id).is_terminal():
        seen.update({s.name + json.dumps(s.labels, sort_keys=True): s for s in run_samples(ray_head, run)})
        if not set(EXPECTED_ACTORS) <= set(actors):  # listing actors is slow: stop once all were seen
            actors.update({a.name: a for a in list_actors(address=ray_head.dashboard_url, detail=True) if a.name})
        time.sleep(0.5)
    status = wait_for_status(client, submission_id, timeout_s=30)
    logs = client.get_job_logs(submission_id)
    assert status == JobStatus.SUCCEEDED, logs[-5000:]

    table = pd.read_parquet(runs_dir / run / "trials.parquet")
    assert len(table) == NUM_SAMPLES
    assert (runs_dir / run / "best.yaml").is_file()
    assert logs.count("done (") >= NUM_SAMPLES, logs[-5000:]  # one progress line per finished trial
    assert f"Ray: running in Ray Job {submission_id}" in logs  # connect() found the job's cluster by itself
    assert f"Ray dashboard: {ray_head.dashboard_url}" in logs

    # The Actors page: the named expert and worker actors, with the resources they hold.
    for name in EXPECTED_ACTORS:
        assert name in actors, f"{name} not among {sorted(actors)}"
    assert actors["lors/worker/0"].required_resources.get("CPU", 0) > 0

    names = {s.name for s in seen.values()}
    for name in ("ray_lors_trial_objective", "ray_lors_trial_wer", "ray_lors_trial_bleu", "ray_lors_best_objective"):
        assert name in names, f"{name} never exported while the job ran; saw {sorted(names)}"
    languages = {s.labels.get("language") for s in seen.values() if s.name == "ray_lors_trial_wer"}
    assert languages == {"de", "es", "fr"}
    # Counters and histograms outlive the driver: they match the run's trial table.
    final = {s.name: s.value for s in run_samples(ray_head, run) if "language" not in s.labels}
    finished = int(table["state"].isin(["COMPLETE", "PRUNED"]).sum())
    assert final["ray_lors_trials_finished_total"] == finished
    assert final["ray_lors_eval_seconds_count"] == int(table["eval_seconds"].notna().sum())
