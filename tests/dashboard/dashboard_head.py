"""A private Ray head for the dashboard tests: `ray start --head --block` in its own temp dir and ports.

Its own `--temp-dir` keeps it out of `/tmp/ray/ray_current_cluster`, so a plain `ray.init()` elsewhere
(other tests, other users of the machine) never joins it; it is stopped by signalling the `ray start`
process this fixture started (never `ray stop`, which would stop every Ray on the machine).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from prometheus_text import Sample, parse_samples
from ray.job_submission import JobStatus, JobSubmissionClient

from lors_search.runtime.local_ray import free_port

RAY = str(Path(sys.executable).with_name("ray"))
# Env of the head and of every client the tests run: no token, no usage stats, metrics every second.
HEAD_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_metrics_report_interval_ms": "1000",
}


@dataclass
class RayHead:
    temp_dir: Path
    dashboard_port: int
    metrics_port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def gcs_address(self) -> str:
        return (self.temp_dir / "ray_current_cluster").read_text().strip()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def client_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    return {**env, **HEAD_ENV, **extra}


def http_get(url: str, timeout: float = 5.0, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def listening_addresses(port: int) -> set[str]:
    """IP addresses with a TCP socket listening on `port` (Linux /proc/net/tcp{,6}; state 0A = LISTEN)."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if fields[3] != "0A" or int(port_hex, 16) != port or len(address) != width:
                continue
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order.
            words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(str(ipaddress.ip_address(words)))
    return found


def start_head(num_cpus: int = 2, timeout_s: float = 120.0) -> RayHead:
    temp_dir = Path(tempfile.mkdtemp(prefix="lrsd", dir="/tmp"))  # short: AF_UNIX paths <= 107 bytes
    ports = [free_port() for _ in range(5)]
    gcs, client, agent, dashboard, metrics = ports
    log_path = temp_dir / "head.log"
    command = [
        RAY, "start", "--head", "--block",
        "--num-cpus", str(num_cpus),
        "--port", str(gcs),
        "--ray-client-server-port", str(client),
        "--dashboard-agent-listen-port", str(agent),
        "--dashboard-host", "127.0.0.1",
        "--dashboard-port", str(dashboard),
        "--metrics-export-port", str(metrics),
        "--object-store-memory", str(100 * 1024 * 1024),
        "--temp-dir", str(temp_dir),
        "--disable-usage-stats",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=client_env(), start_new_session=True, cwd=temp_dir
        )
    head = RayHead(temp_dir, dashboard, metrics, process, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stop_head(head)
            raise RuntimeError(f"ray start exited with {process.returncode}:\n{head.log_tail()}")
        try:
            status, _ = http_get(f"{head.dashboard_url}/api/version", timeout=2)
        except OSError:
            status = 0
        if status in (200, 401) and (temp_dir / "ray_current_cluster").exists():  # 401: token auth on
            return head
        time.sleep(0.5)
    log = head.log_tail()
    stop_head(head)
    raise RuntimeError(f"the Ray head did not answer within {timeout_s:.0f} s:\n{log}")


def stop_head(head: RayHead, timeout_s: float = 60.0) -> None:
    """SIGTERM to `ray start --block` drains and stops the processes it started; SIGKILL its session if not."""
    if head.process.poll() is None:
        head.process.send_signal(signal.SIGTERM)
        try:
            head.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(head.process.pid, signal.SIGKILL)  # the session this fixture created
            head.process.wait(timeout=10)
    shutil.rmtree(head.temp_dir, ignore_errors=True)


def submit_job(head: RayHead, submission_id: str, entrypoint: list[str], options: list[str] | None = None) -> None:
    command = [RAY, "job", "submit", "--address", head.dashboard_url, "--submission-id", submission_id, "--no-wait"]
    command += options or []
    result = subprocess.run([*command, "--", *entrypoint], env=client_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def wait_for_status(client: JobSubmissionClient, submission_id: str, timeout_s: float) -> JobStatus:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get_job_status(submission_id)
        if status.is_terminal():
            return status
        time.sleep(0.5)
    return client.get_job_status(submission_id)


def run_samples(head: RayHead, run: str) -> list[Sample]:
    _, text = http_get(head.metrics_url)
    return [s for s in parse_samples(text) if s.labels.get("run") == run]
