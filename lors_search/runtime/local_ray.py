"""Connect the search driver to Ray: start a private local Ray (every Ray server, the dashboard and the
Prometheus endpoint on loopback, token authentication on), join a cluster by address, or run inside a Ray
Job (`ray job submit`).

Facts used (Ray 2.60 source): a new local cluster from `ray.init()` turns token authentication on
unless `RAY_AUTH_MODE` is set and writes the token to `~/.ray/auth_token`; clients read it from
`RAY_AUTH_TOKEN`, `RAY_AUTH_TOKEN_PATH` or that file, and send it only when `RAY_AUTH_MODE=token`.
A Ray Job's entrypoint gets `RAY_ADDRESS` (the cluster's GCS address) and
`RAY_JOB_CONFIG_JSON_ENV_VAR` (its runtime env and metadata, with `job_submission_id`).

Loopback (Ray 2.60 source, measured with psutil): Ray's gRPC servers (GCS, raylet, core workers), the
dashboard agent, the runtime-env agent and the metrics exporter bind the node's IP. `ray.init` replaces a
loopback `_node_ip_address` by the machine's external IP (`services.resolve_ip_for_localhost`) unless
`ray_constants.ENABLE_RAY_CLUSTER` is false, which `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` sets (Ray's switch
for a single-machine Ray). With it and `_node_ip_address="127.0.0.1"` every listening socket of a local run
is on 127.0.0.1 (tests/search/test_search_loopback.py checks this while a search runs).
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from lors_search.errors import UserError

LOOPBACK = "127.0.0.1"
DEFAULT_DASHBOARD_PORT = 8265
DEFAULT_METRICS_PORT = 8080
JOB_CONFIG_ENV = "RAY_JOB_CONFIG_JSON_ENV_VAR"
AUTH_MODE_ENV = "RAY_AUTH_MODE"
TOKEN_PATH = "~/.ray/auth_token"
SINGLE_MACHINE_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray's node IP is loopback (see above)


@dataclass(frozen=True)
class RayConnection:
    """Where the search driver runs. `address` is the cluster's GCS address (host:port)."""

    address: str
    started_local: bool  # this process started the cluster; it stops with `shutdown()`
    in_job: bool  # the process is a Ray Job's entrypoint (`ray job submit`)
    job_submission_id: str | None
    dashboard_url: str | None  # "http://127.0.0.1:8265", None without a dashboard
    metrics_url: str | None  # the driver node's Prometheus endpoint, "http://127.0.0.1:8080/metrics"
    token_auth: bool  # token authentication is on for this client (and so for the cluster)
    namespace: str
    owns_ray: bool = True  # connect() initialised Ray in this process (False: it was already initialised)
    restore_env: tuple[tuple[str, str | None], ...] = ()  # process settings connect() changed, put back on shutdown

    def describe(self) -> list[str]:
        """Lines telling the user where to watch the search and how to authenticate."""
        if self.in_job:
            where = f"Ray Job {self.job_submission_id or '(no submission id)'} on the cluster at {self.address}"
        elif self.started_local:
            # Its GCS address is Ray's business (it goes to the run's log, see `connect`): the console names
            # only what a user opens, the dashboard and the metrics.
            where = "a local Ray started for this search"
        else:
            where = f"the Ray cluster at {self.address}"
        lines = [f"Ray: running in {where}"]
        if self.dashboard_url:
            lines.append(f"Ray dashboard: {self.dashboard_url}")
        if self.metrics_url:
            lines.append(f"Prometheus metrics: {self.metrics_url} (ray_lors_* metrics)")
        lines.extend(auth_help(self.token_auth, self.dashboard_url))
        return lines

    def shutdown(self) -> None:
        """Disconnect if connect() connected (the Ray processes stop only if it started them); a Ray that was
        already initialised before connect() is left alone."""
        import ray

        if self.owns_ray and ray.is_initialized():
            ray.shutdown()
        _restore_single_machine(self.restore_env)

    def __enter__(self) -> RayConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()


def auth_help(token_auth: bool, dashboard_url: str | None) -> list[str]:
    """How to authenticate against the dashboard and the Jobs API."""
    if not token_auth:
        return ["Ray token authentication is off (RAY_AUTH_MODE=disabled): keep the cluster's ports private."]
    job_address = dashboard_url or f"http://{LOOPBACK}:{DEFAULT_DASHBOARD_PORT}"
    return [
        ("Ray token authentication is on: the dashboard asks once for the token; print it with "
         f"`ray get-auth-token` (it is kept in {token_source()})."),
        (f"Command-line clients: RAY_AUTH_MODE=token ray job list --address {job_address} "
         "(the token is read from RAY_AUTH_TOKEN or ~/.ray/auth_token)."),
    ]


def token_source() -> str:
    """Where this process reads Ray's token from, as Ray's loader does (env, env path, default file)."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "the RAY_AUTH_TOKEN environment variable"
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return os.environ["RAY_AUTH_TOKEN_PATH"]
    return TOKEN_PATH


def job_submission_id(environ: dict[str, str] | None = None) -> str | None:
    """The submission id when this process is a Ray Job entrypoint, else None."""
    env = os.environ if environ is None else environ
    raw = env.get(JOB_CONFIG_ENV)
    if not raw:
        return None
    try:
        metadata = json.loads(raw).get("metadata") or {}
    except (ValueError, AttributeError):
        return None
    value = metadata.get("job_submission_id")
    return str(value) if value else None


def in_ray_job(environ: dict[str, str] | None = None) -> bool:
    """True when this process was started by the Ray Jobs API (`ray job submit`)."""
    env = os.environ if environ is None else environ
    return bool(env.get(JOB_CONFIG_ENV)) and bool(env.get("RAY_ADDRESS"))


def free_port(preferred: int | None = None, host: str = LOOPBACK) -> int:
    """`preferred` if nothing listens on it, else a free ephemeral port."""
    candidates = ([preferred] if preferred else []) + [0]
    for port in candidates:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free TCP port")  # pragma: no cover - binding port 0 does not fail


def _private_token_file() -> None:
    """Ray writes a new local cluster's token to ~/.ray/auth_token with a plain open(), so 0644 under the
    usual umask: readable by every local user. Create it first, 0600, with a token made the way Ray makes one
    (256 random bits); Ray then reads it. Only when Ray would use that file (token mode, no token given)."""
    if os.environ.get(AUTH_MODE_ENV, "token").lower() != "token":
        return
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return
    import secrets

    from lors_search.fsutil import create_private_file

    create_private_file(Path.home() / ".ray" / "auth_token", secrets.token_hex(32))


def connect(
    address: str | None,
    num_cpus: int | None,
    *,
    dashboard: bool = True,
    num_gpus: int | None = None,
    namespace: str | None = None,
    metrics_export_port: int | None = None,
    dashboard_port: int | None = None,
    logging_level: str | int = "WARNING",
    stream: TextIO | None = sys.stderr,
) -> RayConnection:
    """Initialise Ray for a search driver and tell the user where to watch it.

    - `address` None and `RAY_ADDRESS` unset: start a private local Ray (`num_cpus`, `num_gpus`) whose
      every server listens on 127.0.0.1 only: the dashboard (port 8265 or the next free one), the
      Prometheus endpoint on `metrics_export_port` (default 8080 if free, else any free port), GCS, raylet,
      agents and workers (node IP 127.0.0.1). Token authentication follows
      Ray's default for a new local cluster (on unless `RAY_AUTH_MODE` says otherwise).
    - `address` None and `RAY_ADDRESS` set (always the case under `ray job submit`): join that cluster.
    - `address` given ("auto", "host:6379", "ray://..."): join it, as the cluster is configured (its
      network is the user's); "local" forces a new local Ray.
    - Ray already initialised in this process (a test, a notebook): use it as it is; `shutdown()` leaves it.
    `num_cpus`/`num_gpus` only size a local Ray; joining a cluster ignores them. `logging_level` is Ray's
    (its own "started/connected" lines are INFO; ours replace them). Prints `RayConnection.describe()` to
    `stream` (None: silent). Connection failures -> UserError.
    """
    import ray

    say = (lambda line: print(line, file=stream, flush=True)) if stream is not None else (lambda line: None)
    if address is not None and address.startswith(("http://", "https://")):
        raise UserError(
            f"--address {address} is a dashboard (Jobs API) address; give the cluster's Ray address "
            "(e.g. 10.0.0.1:6379 or auto), or submit the search with `ray job submit --address "
            f"{address} -- lors-search search ...`"
        )
    joining = (address not in (None, "local")) or (address is None and bool(os.environ.get("RAY_ADDRESS")))
    in_job = joining and in_ray_job()
    if ray.is_initialized():  # e.g. a test or notebook that called ray.init() itself: use that Ray as it is
        return _describe_and_return(_existing_connection(in_job), say)

    kwargs: dict[str, Any] = {"namespace": namespace, "logging_level": logging_level}
    restore_env: tuple[tuple[str, str | None], ...] = ()
    if joining:
        target = address if address is not None else os.environ["RAY_ADDRESS"]
        try:
            context = ray.init(address=address, **kwargs)
        except Exception as exc:  # any connection failure is reported as one line
            raise UserError(f"cannot connect to Ray at {target}: {_one_line(exc)}{_auth_hint(exc)}") from exc
    else:
        # The port is probed on loopback, where the exporter of a loopback node binds it.
        metrics_port = metrics_export_port or free_port(DEFAULT_METRICS_PORT, host=LOOPBACK)
        kwargs.update(
            address="local",
            num_cpus=num_cpus,
            num_gpus=num_gpus,
            include_dashboard=dashboard,
            _metrics_export_port=metrics_port,
            _node_ip_address=LOOPBACK,
        )
        if dashboard:
            kwargs.update(dashboard_host=LOOPBACK, dashboard_port=dashboard_port)
        restore_env = _single_machine()
        _private_token_file()
        try:
            context = start_local(lambda: ray.init(**kwargs), say)
        except Exception as exc:
            _restore_single_machine(restore_env)
            raise UserError(f"cannot start a local Ray: {_one_line(exc)}") from exc

    info = context.address_info
    dashboard_url = _http(context.dashboard_url) if context.dashboard_url else None
    metrics_port = info.get("metrics_export_port")
    metrics_host = LOOPBACK if not joining else str(info.get("node_ip_address") or LOOPBACK)
    connection = RayConnection(
        address=str(info.get("gcs_address") or info.get("address") or address or ""),
        started_local=not joining,
        in_job=in_job,
        job_submission_id=job_submission_id() if in_job else None,
        dashboard_url=dashboard_url,
        metrics_url=f"http://{metrics_host}:{metrics_port}/metrics" if metrics_port else None,
        token_auth=token_auth_enabled(),
        namespace=ray.get_runtime_context().namespace,
        restore_env=restore_env,
    )
    return _describe_and_return(connection, say)


STARTUP_ATTEMPTS = 3
STARTUP_TIMEOUT_TEXT = "timed out during startup"  # Ray 2.60's node.py, after its fixed 30 s wait for the raylet


def start_local(init: Callable[[], Any], say: Callable[[str], None], attempts: int = STARTUP_ATTEMPTS) -> Any:
    """`init()` (ray.init of a local Ray), started again when it times out waiting for its raylet.

    Ray 2.60 gives a new raylet a fixed 30 s to register with the GCS (not configurable); on a 2-core machine
    busy with other jobs (load average 20-50) that failed 2 of ~12 local starts in one hour. The processes of
    the failed start (GCS, raylet, dashboard) are ended before the next attempt, since Ray keeps no handle on
    them. Any other failure is raised at once."""
    import ray

    from lors_search.runtime.reaper import children, end_new_children

    for attempt in range(1, attempts + 1):
        before = children()
        try:
            return init()
        except Exception as exc:  # only the startup timeout is retried
            if attempt == attempts or STARTUP_TIMEOUT_TEXT not in str(exc):
                raise
            ray.shutdown()
            ended = end_new_children(before)
            say(
                f"local Ray: the raylet did not register within Ray's fixed 30 s (a busy machine?); ended the "
                f"{len(ended)} process(es) of that start, starting again ({attempt + 1}/{attempts})"
            )
    raise AssertionError("unreachable")


def _single_machine() -> tuple[tuple[str, str | None], ...]:
    """Make this process's Ray treat the machine as a single-node Ray whose node IP is loopback (module
    docstring). The variable is inherited by the Ray processes started next; Ray's module constant is read
    at import, so it is set too for a Ray imported earlier. Returns what to put back."""
    from ray._private import ray_constants

    previous = ((SINGLE_MACHINE_ENV, os.environ.get(SINGLE_MACHINE_ENV)),)
    os.environ[SINGLE_MACHINE_ENV] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False
    return previous


def _restore_single_machine(previous: tuple[tuple[str, str | None], ...]) -> None:
    """Undo `_single_machine` (a later connection to a cluster must advertise the machine's real IP)."""
    if not previous:
        return
    from ray._private import ray_constants

    for name, value in previous:
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    ray_constants.ENABLE_RAY_CLUSTER = ray_constants.env_bool(SINGLE_MACHINE_ENV, not ray_constants.IS_WINDOWS_OR_OSX)


def _existing_connection(in_job: bool) -> RayConnection:
    import ray

    context = ray.get_runtime_context()
    try:
        url = ray._private.worker._global_node.webui_url  # private; the dashboard URL ray.init() printed
    except AttributeError:
        url = None
    return RayConnection(
        address=str(context.gcs_address),
        started_local=False,
        in_job=in_job,
        job_submission_id=job_submission_id() if in_job else None,
        dashboard_url=_http(url) if url else None,
        metrics_url=None,
        token_auth=token_auth_enabled(),
        namespace=context.namespace,
        owns_ray=False,
    )


def _describe_and_return(connection: RayConnection, say: Any) -> RayConnection:
    from lors_search.console import to_run_log

    for line in connection.describe():
        say(line)
    to_run_log(f"Ray GCS address: {connection.address}")
    return connection


def token_auth_enabled() -> bool:
    """Whether this process uses token authentication (after `ray.init`, Ray's own decision)."""
    try:
        from ray._private.authentication.authentication_utils import is_token_auth_enabled

        return bool(is_token_auth_enabled())
    except Exception:  # noqa: BLE001 - private API; fall back to the documented variable
        return os.environ.get(AUTH_MODE_ENV, "").lower() == "token"


def _http(url: str) -> str:
    return url if url.startswith(("http://", "https://")) else f"http://{url}"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:400]


def _auth_hint(exc: BaseException) -> str:
    text = str(exc).lower()
    if "authentication" in text or "unauthenticated" in text or "token" in text:
        return (
            " (this cluster uses token authentication: set RAY_AUTH_MODE=token and put the cluster's token "
            "in RAY_AUTH_TOKEN or ~/.ray/auth_token)"
        )
    return ""
