"""Keeps other libraries' console output out of lors-search's own: Ray's log records (the timestamped auth-token
WARNING and the like), Ray Tune's start-of-experiment output (the "Configuration for experiment" box, "View
detailed results here", the TensorBoard hint, all plain `print` calls in `ray.tune.experimental.output`) and
Optuna's log records ("A new study created in RDB ...") go to one log file in the run directory, whose path is
printed once. Records wait in memory until the run directory exists (the search creates it after Ray starts).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from lors_search.rundir.files import LOG_FILE

_LOGGERS = ("ray", "optuna")
_active: _RunLog | None = None
_saved: dict[str, tuple[list[logging.Handler], bool]] = {}


class _RunLog(logging.Handler):
    """Appends to `path` once its directory exists; keeps lines in memory until then."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.DEBUG)
        self.path = path
        self._pending: list[str] = []
        self._lock_io = threading.Lock()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never break the search
            self.handleError(record)

    def write(self, text: str) -> None:
        with self._lock_io:
            self._pending.append(text.rstrip("\n"))
            if self.path.parent.is_dir():
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write("\n".join(self._pending) + "\n")
                self._pending.clear()

    def flush(self) -> None:
        with self._lock_io:
            if self._pending and self.path.parent.is_dir():
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write("\n".join(self._pending) + "\n")
                self._pending.clear()


def _print_to_log(*args: Any, sep: str = " ", end: str = "\n", file: TextIO | None = None, flush: bool = False) -> None:
    """Stands in for `print` in Tune's output module: its console text goes to the run's log instead."""
    if file not in (None, sys.stdout, sys.stderr):
        print(*args, sep=sep, end=end, file=file, flush=flush)
        return
    if _active is not None:
        text = sep.join(str(arg) for arg in args)
        if text.strip():
            _active.write(text)


def capture_foreign_output(run_root: str | os.PathLike[str], *, say: Any = None) -> Path:
    """Route Ray's, Tune's and Optuna's console output of this process to `<run_root>/console.log` (from now on;
    a later call moves it to another run) and print the path once. Returns the path."""
    global _active
    path = Path(run_root) / LOG_FILE
    handler = _RunLog(path)
    previous, _active = _active, handler
    if previous is None:
        _saved.clear()
        _saved.update({name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate)
                       for name in _LOGGERS})
    try:
        import ray  # noqa: F401  # importing Ray configures its logger (a console handler): do it first
    except ImportError:
        pass
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            console = isinstance(old, logging.StreamHandler) and not isinstance(old, logging.FileHandler)
            if old is previous or console:
                logger.removeHandler(old)
        logger.addHandler(handler)
        logger.propagate = False
    if previous is not None:
        previous.flush()
    try:
        import optuna

        optuna.logging.disable_default_handler()  # Optuna re-adds its stderr handler otherwise
    except ImportError:
        pass
    try:
        from ray.tune.experimental import output as tune_output

        tune_output.print = _print_to_log  # type: ignore[attr-defined]  # module globals shadow the builtin
    except ImportError:
        pass
    (say or print)(f"Ray, Tune and Optuna messages go to {path}")
    return path


def release_foreign_output() -> None:
    """Undo `capture_foreign_output` (loggers and Tune's print as they were), after writing what is pending."""
    global _active
    if _active is None:
        return
    _active.flush()
    for name, (handlers, propagate) in _saved.items():
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in handlers:
            logger.addHandler(handler)
        logger.propagate = propagate
    try:
        import optuna
        from ray.tune.experimental import output as tune_output

        optuna.logging.enable_default_handler()
        if getattr(tune_output, "print", None) is _print_to_log:
            del tune_output.print
    except ImportError:
        pass
    _active = None


def to_run_log(text: str) -> None:
    """Write one of lors-search's own lines that only a debugging user needs (e.g. the local Ray's GCS address)
    to the run's log; nothing when no log is active."""
    if _active is not None:
        _active.write(text)


def flush_foreign_output() -> None:
    """Write what is still in memory (call once the run directory exists, e.g. at the end of a search)."""
    if _active is not None:
        _active.flush()


atexit.register(flush_foreign_output)  # records that arrived before the run directory existed

__all__ = ["capture_foreign_output", "flush_foreign_output", "release_foreign_output"]
