"""Crash-safe file output: directories written under a temporary name and renamed at the end,
files replaced atomically. Nothing half-written is ever left at the user's path."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from lors_search.errors import UserError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike[str], *, force: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory beside `path`; rename it to `path` when the block succeeds.

    The temporary directory sits in the same parent so the final rename is atomic on one
    filesystem. On any exception (including KeyboardInterrupt) it is removed. An existing `path`
    is refused unless `force`, in which case it is replaced only after the new one is complete.
    """
    target = Path(path).resolve()
    if target.exists() and not force:
        raise UserError(f"output directory {target} already exists (use --force to replace it)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    # mkdtemp makes 0700 directories; the user's output gets the permissions a plain mkdir would give it.
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        yield tmp
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` to `path` through a temporary file and an atomic rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def file_mode() -> int:
    """The mode a plain `open(path, "w")` would give a new file under the current umask (0644 under 022).

    mkstemp, and some writers (safetensors' `save_file`), create files 0600; results handed to the user are
    ordinary files that the umask, not the writer, decides about."""
    return 0o666 & ~_umask()


def make_user_readable(*paths: str | os.PathLike[str]) -> None:
    """chmod each existing file in `paths` to `file_mode()`, each directory to the umask's directory mode."""
    for path in paths:
        item = Path(path)
        if item.is_dir():
            os.chmod(item, 0o777 & ~_umask())
        elif item.is_file():
            os.chmod(item, file_mode())


def _existing(path: str | os.PathLike[str]) -> Path | None:
    """`path` resolved (symlinks followed) when it exists on this machine; None for hub ids and the like."""
    candidate = Path(path).expanduser()
    try:
        return candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        return None


def check_output_location(
    out: str | os.PathLike[str],
    inputs: Iterable[tuple[str, str | os.PathLike[str] | None]],
    *,
    flag: str = "--out",
) -> None:
    """Refuse an output that is, contains or lies inside one of the command's inputs, `--force` or not.

    `inputs` are (label, path) pairs, e.g. ("expert de", "experts/de"); paths that do not exist locally
    (Hub ids, None) have nothing to destroy and are skipped. Replacing an output directory deletes it, and
    writing inside an input changes what the next run reads, so either is refused before any work starts.
    """
    target = Path(out).expanduser().resolve()
    for label, source in inputs:
        if source is None:
            continue
        path = _existing(source)
        if path is None:
            continue
        if target == path or (target.exists() and os.path.samefile(target, path)):
            problem = "is"
        elif path.is_relative_to(target):
            problem = "contains"
        elif target.is_relative_to(path):
            problem = "lies inside"
        else:
            continue
        raise UserError(f"{flag} {target} {problem} the {label} {path}; write the output somewhere else")


def check_writable(out: str | os.PathLike[str], *, flag: str = "--out") -> None:
    """Refuse, before any work, an output location that cannot be created: its nearest existing ancestor is
    not a directory or not writable (read-only filesystem, permissions, /sys). Probes with a temporary file
    that is removed again, since `os.access` says yes to root even where writing fails."""
    target = Path(out).expanduser().absolute()
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"cannot write {flag} {target}: {parent} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(prefix=".lors-write-check-", dir=parent)
    except OSError as exc:
        raise UserError(f"cannot write {flag} {target}: {parent} is not writable ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)


def check_run_name(name: str, *, flag: str = "--name") -> None:
    """A run name is one path component: no separator, not `.` or `..`, so `runs/<name>` stays in runs/."""
    separators = {os.sep, "/", *((os.altsep,) if os.altsep else ())}
    if not name or name in (".", "..") or any(sep in name for sep in separators) or "\0" in name:
        raise UserError(
            f"{flag} {name!r} is not a plain run name: use letters, digits, '-', '_' or '.', without path separators or '..'"
        )


def create_private_file(path: str | os.PathLike[str], text: str) -> bool:
    """Create `path` holding `text`, readable by its owner only (0600, whatever the umask), unless it exists;
    True when created. For secrets (tokens): O_EXCL, so an existing file, or a racing writer's, is kept."""
    target = Path(path).expanduser()
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return True


@contextlib.contextmanager
def preserved_environment(names: Iterable[str]) -> Iterator[None]:
    """Give the caller back these environment variables after the block (values, or their absence), whatever
    the block set, also on error."""
    saved = {name: os.environ.get(name) for name in names}
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for a block only."""
    with preserved_environment(values):
        os.environ.update(values)
        yield


def read_json_if_present(path: Path) -> Any | None:
    """The JSON document at `path`, None when there is no file; one-line UserError when it is unreadable."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None
