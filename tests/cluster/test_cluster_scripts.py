"""The helper scripts of cluster/: copy_tree.py, run-in-store.sh and search-and-export.sh.

The shell scripts run for real under bash; `lors-search` is replaced on PATH by a small recorder
so that the scripts' control flow (store, resume, export once) is checked without a cluster.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from cluster_files import CLUSTER_DIR


@pytest.fixture(scope="module")
def copy_tree() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lors_cluster_copy_tree", CLUSTER_DIR / "copy_tree.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_copy_tree_copies_a_folder_recursively(copy_tree: ModuleType, tmp_path: Path) -> None:
    source = tmp_path / "run"
    (source / "tune" / "trial_0").mkdir(parents=True)
    (source / "study.db").write_bytes(b"\x00sqlite\xff")
    (source / "tune" / "trial_0" / "result.json").write_text('{"wer": 0.25}')
    assert copy_tree.copy_tree(str(source), str(tmp_path / "copy")) == 2
    assert _tree(tmp_path / "copy") == _tree(source)


def test_copy_tree_accepts_relative_paths_and_single_files(
    copy_tree: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("best.yaml").write_text("method: lors\n")
    assert copy_tree.main(["best.yaml", "out/nested/best.yaml"]) == 0
    assert Path("out/nested/best.yaml").read_text() == "method: lors\n"


def test_copy_tree_cli_rejects_bad_input_with_one_line(tmp_path: Path) -> None:
    script = str(CLUSTER_DIR / "copy_tree.py")
    destination = tmp_path / "never"
    for args, code in (
        ([str(tmp_path / "missing"), str(destination)], 2),
        ([str(tmp_path), "nosuchscheme://bucket/x"], 2),
        (["only-one-argument"], 2),
    ):
        done = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, check=False)
        assert done.returncode == code, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stdout == ""
        assert not destination.exists()


def _bash(script: str, *args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(CLUSTER_DIR / script), *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture()
def job_dir(tmp_path: Path) -> Path:
    """A stand-in for a Ray job's working directory: the uploaded repo with its search spaces."""
    work = tmp_path / "working_dir"
    (work / "search_spaces").mkdir(parents=True)
    (work / "search_spaces" / "tiny.yaml").write_text("name: tiny\n")
    return work


def test_run_in_store_runs_the_command_in_the_store_with_the_spaces(job_dir: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    done = _bash(
        "run-in-store.sh", "sh", "-c", 'pwd; cat "$1"; exit 3', "sh", "search_spaces/tiny.yaml",
        cwd=job_dir, env={"LORS_STORE": str(store)},
    )  # fmt: skip
    assert done.returncode == 3  # the command's own exit status comes back
    assert done.stdout.splitlines() == [str(store), "name: tiny"]


def test_run_in_store_refuses_no_command_or_an_unusable_store(job_dir: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for args, env in (((), {}), (("true",), {"LORS_STORE": str(blocker / "store")})):
        done = _bash("run-in-store.sh", *args, cwd=job_dir, env=env)
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.fixture()
def recorder(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """A `lors-search` on PATH that logs its arguments and creates the folders the real one would.

    LORS_FAKE_FAIL=search makes the search step fail.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    fake = bin_dir / "lors-search"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'echo "$PWD|$*" >> "$LORS_FAKE_LOG"\n'
        'if [ "$1" = search ]; then\n'
        '  [ "${LORS_FAKE_FAIL:-}" = search ] && exit 1\n'
        '  mkdir -p "runs/$4"\n'
        "fi\n"
        'if [ "$1" = export ]; then mkdir -p "$4"; fi\n'
    )
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "LORS_FAKE_LOG": str(log)}
    return env, log


def test_search_and_export_searches_exports_then_resumes(
    job_dir: Path, tmp_path: Path, recorder: tuple[dict[str, str], Path]
) -> None:
    env, log = recorder
    store = tmp_path / "store"
    env = {**env, "LORS_STORE": str(store)}

    first = _bash("search-and-export.sh", "search_spaces/tiny.yaml", "r1", cwd=job_dir, env=env)
    assert first.returncode == 0, first.stderr
    assert (store / "search_spaces" / "tiny.yaml").read_text() == "name: tiny\n"
    assert log.read_text().splitlines() == [
        f"{store}|search search_spaces/tiny.yaml --name r1",
        f"{store}|export runs/r1 --out exports/r1",
    ]

    # A retried job: the run exists, so it resumes; the export exists, so it is not redone.
    log.unlink()
    again = _bash("search-and-export.sh", "search_spaces/tiny.yaml", "r1", cwd=job_dir, env=env)
    assert again.returncode == 0, again.stderr
    assert log.read_text().splitlines() == [f"{store}|search search_spaces/tiny.yaml --name r1 --resume"]


def test_search_and_export_stops_when_the_search_fails(
    job_dir: Path, tmp_path: Path, recorder: tuple[dict[str, str], Path]
) -> None:
    env, log = recorder
    env = {**env, "LORS_STORE": str(tmp_path / "store"), "LORS_FAKE_FAIL": "search"}
    done = _bash("search-and-export.sh", "search_spaces/tiny.yaml", "r1", cwd=job_dir, env=env)
    assert done.returncode != 0
    assert [line.split("|")[1].split()[0] for line in log.read_text().splitlines()] == ["search"]
    assert not (tmp_path / "store" / "exports").exists()


@pytest.mark.parametrize(
    "args",
    [("search_spaces/tiny.yaml",), ("search_spaces/missing.yaml", "r1"), ("search_spaces/tiny.yaml", "a/b")],
    ids=["one-argument", "missing-space", "run-with-slash"],
)
def test_search_and_export_rejects_bad_arguments(
    job_dir: Path, tmp_path: Path, recorder: tuple[dict[str, str], Path], args: tuple[str, ...]
) -> None:
    env, log = recorder
    done = _bash("search-and-export.sh", *args, cwd=job_dir, env={**env, "LORS_STORE": str(tmp_path / "s")})
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not log.exists()
