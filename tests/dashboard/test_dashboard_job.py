"""A search driver submitted with `ray job submit` to a local head: the job succeeds, connect() sees it is a
Ray Job, the head's metrics endpoint exposes every `ray_lors_*` series the Grafana dashboard plots, and the
dashboard listens on loopback only."""

from __future__ import annotations

import json
import socket
import sys
import time
import uuid
from pathlib import Path

import pytest
from dashboard_head import RayHead, http_get, listening_addresses, run_samples, submit_job, wait_for_status
from prometheus_text import Sample, grafana_metric_names
from ray.job_submission import JobStatus, JobSubmissionClient

JOB_SCRIPT = Path(__file__).with_name("trial_metrics_job.py")


def test_dashboard_listens_on_loopback_only(ray_head: RayHead) -> None:
    assert listening_addresses(ray_head.dashboard_port) == {"127.0.0.1"}
    assert listening_addresses(ray_head.metrics_port), "the listener check reads nothing"
    node_ip = ray_head.gcs_address.rsplit(":", 1)[0]
    if node_ip != "127.0.0.1":  # the head's own address: the dashboard must not answer there
        with pytest.raises(OSError), socket.create_connection((node_ip, ray_head.dashboard_port), timeout=2):
            pass
    assert http_get(f"{ray_head.dashboard_url}/api/version")[0] == 200


def test_job_publishes_every_dashboard_metric(ray_head: RayHead, tmp_path: Path) -> None:
    run = f"metrics-{uuid.uuid4().hex[:8]}"
    submission_id = f"lors-test-{run}"
    stop_file = tmp_path / "scraped"
    submit_job(ray_head, submission_id, [sys.executable, str(JOB_SCRIPT), run, str(stop_file)])
    client = JobSubmissionClient(ray_head.dashboard_url)

    wanted = grafana_metric_names()
    assert wanted, "the Grafana dashboard queries no ray_lors_ metric"
    seen: list[Sample] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        seen = run_samples(ray_head, run)
        if wanted <= {s.name for s in seen}:
            break
        if client.get_job_status(submission_id).is_terminal():
            break
        time.sleep(1)
    stop_file.touch()
    status = wait_for_status(client, submission_id, timeout_s=60)
    logs = client.get_job_logs(submission_id)
    assert status == JobStatus.SUCCEEDED, logs

    missing = wanted - {s.name for s in seen}
    assert not missing, f"not exported: {sorted(missing)}\n{logs}"
    values = {(s.name, s.labels.get("language")): s.value for s in seen if not s.name.endswith(("_bucket", "_sum"))}
    assert values[("ray_lors_trials_finished_total", None)] == 2  # COMPLETE + PRUNED
    assert values[("ray_lors_trials_pruned_total", None)] == 1
    assert values[("ray_lors_trials_failed_total", None)] == 1
    assert values[("ray_lors_best_objective", None)] == 0.75
    assert values[("ray_lors_trial_objective", None)] == 0.5  # the latest finished trial
    assert values[("ray_lors_trial_wer", "es")] == 0.125
    assert values[("ray_lors_trial_wer", "de")] == 0.25
    assert values[("ray_lors_trial_cer", "de")] == 0.0625
    assert values[("ray_lors_trial_bleu", "es")] == 41.5
    assert values[("ray_lors_merge_seconds_count", None)] == 2
    assert values[("ray_lors_eval_seconds_count", None)] == 2

    # The driver knew it ran as this Ray Job, and its per-trial lines are in the job's log.
    line = next(line for line in logs.splitlines() if line.startswith("CONNECTION "))
    connection = json.loads(line.removeprefix("CONNECTION "))
    assert connection["in_job"] is True and connection["started_local"] is False
    assert connection["job_submission_id"] == submission_id
    assert connection["dashboard_url"] == ray_head.dashboard_url
    assert f"[{run}] trial 1 PRUNED" in logs
    assert "Ray: running in Ray Job " + submission_id in logs
