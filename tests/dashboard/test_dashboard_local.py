"""TrialMetrics without Ray, the metric names against the Grafana dashboard, Ray Job detection, and
connect() starting a private local Ray: dashboard on loopback, token authentication on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_text import grafana_metric_names

from lors_search.errors import UserError
from lors_search.runtime import local_ray
from lors_search.runtime.metrics import COUNTERS, GAUGES, HISTOGRAMS, TrialMetrics

HERE = Path(__file__).parent


def _python(code_or_script: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *code_or_script], env=env, capture_output=True, text=True, timeout=timeout, cwd=HERE
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return {**env, "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(HERE), **extra}


def test_trial_metrics_is_a_noop_without_ray() -> None:
    code = """
import ray
from lors_search.runtime import metrics
m = metrics.TrialMetrics("r")
assert not m.enabled
m.trial_finished("COMPLETE", 0.5, {"es/transcribe": {"wer": 0.1, "cer": 0.05}, "es/translate": {"bleu": 20.0}}, 1.0, 2.0)
m.trial_finished("FAIL", None, None, None, None)
m.best(0.5)
assert metrics._instruments is None, "metric objects were created without Ray"
assert not ray.is_initialized()
print("ok")
"""
    result = _python(["-c", code], _env(), timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_trial_metrics_rejects_an_unknown_state() -> None:
    with pytest.raises(ValueError, match="unknown trial state"):
        TrialMetrics("r").trial_finished("DONE", 1.0, {}, None, None)


def test_every_metric_is_on_the_grafana_dashboard_and_back() -> None:
    exported = (
        {f"ray_{name}_total" for name in COUNTERS}
        | {f"ray_{name}" for name in GAUGES}
        | {f"ray_{name}_bucket" for name in HISTOGRAMS}
    )
    assert grafana_metric_names() == exported


def test_ray_job_detection_reads_the_job_config() -> None:
    config = json.dumps({"runtime_env": {}, "metadata": {"job_submission_id": "raysubmit_1", "job_name": "x"}})
    job_env = {"RAY_ADDRESS": "10.0.0.1:6379", local_ray.JOB_CONFIG_ENV: config}
    assert local_ray.in_ray_job(job_env)
    assert local_ray.job_submission_id(job_env) == "raysubmit_1"
    assert not local_ray.in_ray_job({"RAY_ADDRESS": "10.0.0.1:6379"})  # a user-set address is not a job
    assert local_ray.job_submission_id({local_ray.JOB_CONFIG_ENV: "not json"}) is None


def test_connect_refuses_a_dashboard_address() -> None:
    with pytest.raises(UserError, match=r"dashboard .*ray job submit"):
        local_ray.connect("http://127.0.0.1:8265", None, stream=None)


@pytest.mark.slow  # starts a local Ray in a subprocess
def test_connect_starts_a_local_ray_on_loopback_with_token_auth(tmp_path: Path) -> None:
    """Ray's default for a new local cluster: a token in ~/.ray/auth_token (here a scratch HOME), required by
    the dashboard's API; connect() says so and where the dashboard is."""
    result = _python([str(HERE / "local_driver.py")], _env(HOME=str(tmp_path)), timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    connection = report["connection"]
    assert connection["started_local"] and not connection["in_job"]
    assert connection["dashboard_url"].startswith("http://127.0.0.1:")
    assert connection["token_auth"] is True and report["token_file"]
    assert report["dashboard_listeners"] == ["127.0.0.1"]
    assert report["jobs_without_token"] == 401 and report["jobs_with_token"] == 200
    stderr = result.stderr
    assert f"Ray dashboard: {connection['dashboard_url']}" in stderr
    assert "`ray get-auth-token`" in stderr and "RAY_AUTH_MODE=token" in stderr
    assert f"Prometheus metrics: {connection['metrics_url']}" in stderr


@pytest.mark.slow  # starts a local Ray in a subprocess
def test_connect_reuses_a_ray_initialised_by_the_caller() -> None:
    """A test or notebook that called ray.init() itself keeps its Ray: connect() neither re-initialises nor,
    on shutdown(), stops it."""
    code = """
import ray
from lors_search.runtime.local_ray import connect
ray.init(address="local", num_cpus=1, include_dashboard=False)
connection = connect(None, 2, stream=None)
assert not connection.owns_ray and not connection.started_local, connection
connection.shutdown()
assert ray.is_initialized()
ray.shutdown()
print("ok")
"""
    result = _python(["-c", code], _env(RAY_AUTH_MODE="disabled"), timeout=120)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
