"""One search driver per run directory: an exclusive `flock` on `<run>/search.lock`, held for the driver's life
(the kernel drops it when the process ends, however it ends), so a second `lors-search search` of the same run
(a new run racing for the name, `--resume`, `--cleanup`) stops with one line instead of writing into it.

The lock is the flock, not the file: `search.lock` stays in the directory (emptied at a clean end) and only
names the driver holding it, for the message. flock needs a local file system, as the study's SQLite does.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

from lors_search.errors import UserError
from lors_search.rundir.files import LOCK_FILE, RUN_JSON, RunDir, now

_held: dict[Path, tuple[int, int]] = {}  # run root -> (fd, depth): this process's locks (flock is per open file)


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return f" ({text})" if text else ""


def _in_use(run_dir: RunDir) -> UserError:
    return UserError(
        f"the run {run_dir.root} is in use: another lors-search search{_holder(run_dir.root / LOCK_FILE)} is "
        "running it; wait for it to end"
    )


def _try_lock(run_dir: RunDir) -> int | None:
    """The fd of the locked `search.lock`, or None when another process holds it."""
    fd = os.open(run_dir.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
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
    """Raise the one-line UserError when another driver holds the run (before other checks of the directory:
    a run whose driver is still starting has no run.json yet, and "in use" is the true reason)."""
    if run_dir.root.resolve() in _held or not (run_dir.root / LOCK_FILE).is_file():
        return
    fd = _try_lock(run_dir)
    if fd is None:
        raise _in_use(run_dir)
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


@contextlib.contextmanager
def hold_run(run_dir: RunDir, *, create: bool) -> Iterator[None]:
    """Hold the run directory for this driver. `create`: a new run, whose directory this call makes (and
    removes again if the block fails before run.json exists, as if the run had never started); otherwise the
    directory must exist. Re-entrant within a process. Raises UserError when another driver holds it."""
    root = run_dir.root.resolve()
    if root in _held:
        fd, depth = _held[root]
        _held[root] = (fd, depth + 1)
        try:
            yield
        finally:
            fd, depth = _held[root]
            _held[root] = (fd, depth - 1)
        return
    if create:
        try:
            root.mkdir(parents=True, exist_ok=False)
        except FileExistsError:
            check_not_held(run_dir)
            raise UserError(
                f"run directory {run_dir.root} already exists; pass --resume to continue it or --name for a new run"
            ) from None
    fd = _try_lock(run_dir)
    if fd is None:
        raise _in_use(run_dir)
    _held[root] = (fd, 1)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {now()}\n".encode(), 0)
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        del _held[root]
        if failed and create and not (root / RUN_JSON).exists():
            shutil.rmtree(root, ignore_errors=True)  # ours, made above; nothing of the run was written yet
        else:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
        os.close(fd)  # drops the flock
