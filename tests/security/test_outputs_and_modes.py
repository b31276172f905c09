"""Outputs: the overlap guard's rule (is, contains, lies inside; symlinks followed), the places it must allow,
file modes that follow the umask (saved weights, feature caches), and the Ray token file created 0600."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from security_fixtures import Workspace

from lors_search.cli import main
from lors_search.errors import UserError
from lors_search.fsutil import check_output_location, check_run_name, check_writable, create_private_file


@pytest.fixture
def umask_022() -> Iterator[None]:
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_overlap_rule(tmp_path: Path) -> None:
    expert = tmp_path / "experts" / "de"
    expert.mkdir(parents=True)
    (tmp_path / "link").symlink_to(expert)
    inputs = [("expert de", expert), ("hub base", "openai/whisper-small"), ("nothing", None)]
    for out, problem in (
        (expert, "is"),
        (tmp_path / "link", "is"),  # a symlink to an input is that input
        (tmp_path / "experts", "contains"),
        (tmp_path, "contains"),
        (expert / "merged", "lies inside"),
        (tmp_path / "link" / "x", "lies inside"),
    ):
        with pytest.raises(UserError, match=f"--out {out.resolve()} {problem} the expert de"):
            check_output_location(out, inputs)
    # Siblings and names that merely share a prefix are fine; Hub ids and None are skipped.
    check_output_location(tmp_path / "experts" / "de-merged", inputs)
    check_output_location(tmp_path / "merged", inputs)


def test_writable_and_run_names(tmp_path: Path) -> None:
    check_writable(tmp_path / "new" / "deeper" / "out")  # missing parents are created later: fine
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is not a directory"):
        check_writable(tmp_path / "file" / "out")
    with pytest.raises(UserError, match="/sys is not writable"):
        check_writable("/sys/lors-out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # the probe file is gone
    for good in ("run1", "demo-2026-01-01_12.00", "a..b"):
        check_run_name(good)
    for bad in ("", ".", "..", "../x", "a/b", "/abs", "x\0y"):
        with pytest.raises(UserError, match="is not a plain run name"):
            check_run_name(bad)


def test_report_guard_allows_the_run_directory_default(workspace: Workspace) -> None:
    """The report's page and plots go into the run directory by default, and an earlier report is replaced:
    neither is an input."""
    from lors_search.report.command import check_report_output
    from lors_search.rundir import SearchRun

    run = SearchRun(workspace.root / "runs" / "run1")
    check_report_output(None, run)
    (run.root / "report.html").write_text("<html></html>")
    (run.root / "report_files").mkdir(exist_ok=True)
    try:
        check_report_output(None, run)
        check_report_output(str(run.root / "other.html"), run)
    finally:
        (run.root / "report.html").unlink()
        (run.root / "report_files").rmdir()
    with pytest.raises(UserError, match="lies inside the run file tune"):
        check_report_output(str(run.root / "tune" / "r.html"), run)


def test_merged_checkpoint_follows_the_umask(workspace: Workspace, tmp_path: Path, umask_022: None) -> None:
    out = tmp_path / "merged"
    code = main(["merge", "--base", str(workspace.root / "base"), "--expert", str(workspace.root / "experts" / "de"),
                 "--method", "task_arithmetic", "--out", str(out)])
    assert code == 0
    assert _mode(out) == 0o755
    modes = {path.name: _mode(path) for path in out.iterdir()}
    assert modes["model.safetensors"] == 0o644  # safetensors' save_file made it 0600
    assert set(modes.values()) == {0o644}, modes


def test_feature_cache_follows_the_umask(workspace: Workspace, tmp_path: Path, umask_022: None) -> None:
    import shutil

    from lors_search.speech.features import load_features

    data = tmp_path / "data"
    shutil.copytree(workspace.root / "data", data)
    load_features(data, "dev", window_seconds=1)
    files = sorted((data / "features").iterdir())
    assert [f.name for f in files] == ["dev-1s.json", "dev-1s.npy"]
    assert {_mode(f) for f in files} == {0o644}  # mkstemp made the .npy 0600


def test_private_file_is_0600_whatever_the_umask(tmp_path: Path, umask_022: None) -> None:
    token = tmp_path / ".ray" / "auth_token"
    assert create_private_file(token, "secret")
    assert _mode(token) == 0o600 and token.read_text() == "secret"
    assert not create_private_file(token, "other")  # an existing token is kept
    assert token.read_text() == "secret"


def test_local_ray_token_is_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask_022: None) -> None:
    """Ray writes ~/.ray/auth_token with a plain open() (0644 here); lors_search creates it 0600 first."""
    from lors_search.runtime.local_ray import _private_token_file

    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    _private_token_file()
    token = tmp_path / ".ray" / "auth_token"
    assert _mode(token) == 0o600
    assert len(token.read_text()) == 64 and int(token.read_text(), 16) >= 0
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    token.unlink()
    _private_token_file()
    assert not token.exists()
