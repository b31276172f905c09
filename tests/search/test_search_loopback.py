"""A local search is private to the machine: while `lors-search search` runs on the local Ray it starts (the
dashboard on, as by default), every listening socket of its process tree (GCS, raylet, dashboard and its
agents, the Prometheus endpoint, actors, trial workers) is on loopback, never on 0.0.0.0, :: or the
machine's external address."""

from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray  # noqa: F401 - puts Ray's vendored psutil on sys.path
import psutil

from search_fixtures import REPO, subprocess_env


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1, how Ray's C++ servers report an IPv4 loopback bind
    return address.is_loopback


def listeners(root: int) -> dict[tuple[str, int], str]:
    """(ip, port) -> process name of every TCP socket in LISTEN state in `root`'s process tree."""
    try:
        procs = [psutil.Process(root)]
        procs += procs[0].children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    found: dict[tuple[str, int], str] = {}
    for proc in procs:
        try:
            name = proc.name()
            for conn in proc.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN:
                    found[(conn.laddr.ip, conn.laddr.port)] = name
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def test_loopback_check_is_strict() -> None:
    assert _loopback("127.0.0.1") and _loopback("::1") and _loopback("::ffff:127.0.0.1")
    assert not _loopback("0.0.0.0") and not _loopback("::") and not _loopback("192.0.2.2")


@pytest.mark.slow  # a real search in a subprocess, with its own local Ray
def test_a_local_search_listens_on_loopback_only(write_space, tmp_path: Path) -> None:
    space = write_space("loopback", budget={"num_samples": 3}, fidelity={"n_per_language": [None]})
    runs = tmp_path / "runs"
    command = [sys.executable, "-m", "lors_search", "search", str(space), "--runs-dir", str(runs), "--workers", "1"]
    log_path = tmp_path / "search.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, env=subprocess_env(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        seen: dict[tuple[str, int], str] = {}
        try:
            deadline = time.monotonic() + 240
            # Sample the whole run: before the actors, while trials run, until the driver ends.
            while proc.poll() is None and time.monotonic() < deadline:
                seen.update(listeners(proc.pid))
                time.sleep(0.5)
            assert proc.poll() == 0, log_path.read_text()[-3000:]
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)  # only on failure: this test's own process group
    names = set(seen.values())
    # The sample saw the run's servers (else the check below would pass vacuously).
    assert {"gcs_server", "raylet"} <= names, seen
    assert any("DashboardAgent" in name for name in names), seen
    out = log_path.read_text()
    metrics_port = int(out.split("Prometheus metrics: http://127.0.0.1:")[1].split("/")[0])
    assert any(port == metrics_port for _, port in seen), (metrics_port, seen)
    outside = {f"{ip}:{port}": name for (ip, port), name in seen.items() if not _loopback(ip)}
    assert not outside, f"listening outside loopback: {outside}"
