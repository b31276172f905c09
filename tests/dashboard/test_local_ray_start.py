"""A local Ray start that times out waiting for its raylet (Ray 2.60's fixed 30 s, hit on a busy 2-core
machine) is started again after the processes of the failed start are ended; other failures are not retried."""

from __future__ import annotations

import subprocess
import sys

import pytest

from lors_search.runtime.local_ray import STARTUP_TIMEOUT_TEXT, start_local

TIMEOUT = Exception(f"The current node {STARTUP_TIMEOUT_TEXT}. This could happen because ...")


def test_a_startup_timeout_is_retried_after_its_processes_are_ended() -> None:
    started: list[subprocess.Popen] = []
    said: list[str] = []

    def init() -> str:
        if len(started) < 2:  # what a failed start leaves: a child process nobody has a handle on
            started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]))
            raise TIMEOUT
        return "context"

    assert start_local(init, said.append) == "context"
    assert [proc.wait(timeout=10) is not None for proc in started] == [True, True]  # both ended
    assert len(said) == 2 and said[0].endswith("ended the 1 process(es) of that start, starting again (2/3)")
    assert said[1].endswith("starting again (3/3)")


def test_other_failures_and_the_last_timeout_are_raised() -> None:
    calls: list[int] = []

    def refused() -> None:
        calls.append(1)
        raise RuntimeError("address already in use")

    with pytest.raises(RuntimeError, match="address already in use"):
        start_local(refused, lambda line: None)
    assert len(calls) == 1

    def always_late() -> None:
        calls.append(1)
        raise TIMEOUT

    with pytest.raises(Exception, match=STARTUP_TIMEOUT_TEXT):
        start_local(always_late, lambda line: None, attempts=2)
    assert len(calls) == 3
