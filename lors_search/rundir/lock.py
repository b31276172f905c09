"""One search driver per run: an exclusive `flock` on `<runs dir>/.<name>.lock`, held for the driver's life (the
kernel drops it when the process ends, however it ends), so a second `lors-search search` of the same run (a
new run racing for the name, `--resume`, `--cleanup`) stops with one line instead of writing into it.

The lock file sits beside the run directory, not in it: a new run's directory is still made only once Ray and
the actors have started (a run that cannot start leaves nothing behind, and an existing directory always is a
run to resume). The lock is the flock, not the file: the file stays (emptied at a clean end) and only names the
driver holding it, for the message. flock needs a local file system, as the study's SQLite does.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from lors_search.errors import UserError
from lors_search.rundir.files import RunDir, now

_held: dict[Path, tuple[int, int]] = {}  # lock file -> (fd, depth): this process's locks (flock is per open file)


def _key(run_dir: RunDir) -> Path:
    return run_dir.lock_file.resolve()


def _in_use(run_dir: RunDir) -> UserError:
    try:
        holder = run_dir.lock_file.read_text(encoding="utf-8").strip()
    except OSError:
        holder = ""
    return UserError(
        f"the run {run_dir.root} is in use: another lors-search search{f' ({holder})' if holder else ''} is "
        "running it; wait for it to end"
    )


def _try_lock(run_dir: RunDir) -> int | None:
    """The fd of the locked lock file, or None when another process holds it."""
    fd = os.open(run_dir.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_not_held(run_dir: RunDir) -> None:
    """Raise the one-line UserError when another driver holds the run (before other checks of the directory: a
    run whose driver is still starting has no directory or run.json yet, and "in use" is the true reason)."""
    if _key(run_dir) in _held or not run_dir.lock_file.is_file():
        return
    fd = _try_lock(run_dir)
    if fd is None:
        raise _in_use(run_dir)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


@contextlib.contextmanager
def hold_run(run_dir: RunDir) -> Iterator[None]:
    """Hold the run for this driver (the runs directory is made if needed; the run directory is not). Re-entrant
    within a process (the CLI holds it, then `run_search`). Raises UserError when another driver holds it."""
    key = _key(run_dir)
    if key in _held:
        fd, depth = _held[key]
        _held[key] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = _held[key]
            _held[key] = (fd, depth - 1)
        return
    run_dir.lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = _try_lock(run_dir)
    if fd is None:
        raise _in_use(run_dir)
    _held[key] = (fd, 1)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {now()}\n".encode(), 0)
        yield
    finally:
        del _held[key]
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # drops the flock
