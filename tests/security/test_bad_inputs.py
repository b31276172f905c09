"""The bad-input catalogue (issue 11): each case runs a real command on tiny real inputs and must end with
exit code 2, exactly one line on stderr that names the file, flag or key at fault, no traceback, and nothing
new or changed on disk (inputs untouched, no output or temporary file left behind).

Every case runs in-process (fast, and a traceback fails it outright); a sample of them also runs as a
subprocess of the installed console entry point, the honest check for stray warnings on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from security_fixtures import Workspace

from lors_search.cli import main

# Case: (argv with {ws} for the workspace, what the one stderr line must contain, also with {ws}).
MERGE = ["merge", "--base", "{ws}/base", "--expert", "de={ws}/experts/de", "--expert", "es={ws}/experts/es", "--method", "lors"]
EVAL = ["evaluate", "--model", "{ws}/evalmodel", "--data", "{ws}/data", "--device", "cpu"]
SEARCH = ["search", "{ws}/space.yaml", "--runs-dir", "{ws}/runs", "--no-dashboard"]
CASES: dict[str, tuple[list[str], str]] = {
    # ---- merge: outputs overlapping inputs, with and without --force -----------------------------------------
    "merge out is an expert, forced": ([*MERGE, "--out", "{ws}/experts/de", "--force"], "is the expert de {ws}/experts/de"),
    "merge out is the base, forced": ([*MERGE, "--out", "{ws}/base", "--force"], "is the base {ws}/base"),
    "merge out contains the experts": ([*MERGE, "--out", "{ws}/experts", "--force"], "contains the expert de"),
    "merge out inside an expert": ([*MERGE, "--out", "{ws}/experts/es/merged"], "lies inside the expert es"),
    "merge out inside the base": ([*MERGE, "--out", "{ws}/base/sub/merged", "--force"], "lies inside the base"),
    "merge out under a file": ([*MERGE, "--out", "{ws}/a_file/merged"], "{ws}/a_file is not a directory"),
    "merge out unwritable": ([*MERGE, "--out", "/sys/lors-search-merged"], "/sys is not writable"),
    "merge out exists": ([*MERGE, "--out", "{ws}/runs"], "{ws}/runs already exists"),
    "merge expert shape differs": (
        [*MERGE[:-2], "--expert", "wide={ws}/broken/wide", "--method", "lors", "--out", "{ws}/m"],
        "model.decoder.layers.0.fc1.weight",
    ),
    "merge expert NaN": ([*MERGE[:-2], "--expert", "nan={ws}/broken/nan", "--method", "lors", "--out", "{ws}/m"], "holds NaN"),
    "merge expert corrupt safetensors": (
        [*MERGE[:-2], "--expert", "c={ws}/broken/corrupt", "--method", "lors", "--out", "{ws}/m"],
        "{ws}/broken/corrupt/model.safetensors is not a readable safetensors file",
    ),
    "merge expert pickled weights": (
        [*MERGE[:-2], "--expert", "p={ws}/broken/pickled", "--method", "lors", "--out", "{ws}/m"],
        "holds weights only as pytorch_model.bin",
    ),
    "merge raw-pickle .pt base": (
        ["merge", "--base", "{ws}/broken/raw.pt", "--expert", "{ws}/experts/de", "--method", "lors", "--out", "{ws}/m"],
        "{ws}/broken/raw.pt is not a readable openai-whisper checkpoint",
    ),
    "merge planted-pickle .pt base": (
        ["merge", "--base", "{ws}/broken/planted.pt", "--expert", "{ws}/experts/de", "--method", "lors", "--out", "{ws}/m"],
        "unsupported global posix.system",
    ),
    "merge unknown method": ([*MERGE[:-1], "magic", "--out", "{ws}/m"], "magic"),
    "merge missing expert dir": (
        ["merge", "--base", "{ws}/base", "--expert", "{ws}/experts/xx", "--method", "lors", "--out", "{ws}/m"],
        "{ws}/experts/xx does not exist",
    ),
    "merge config with flags": (["merge", "--config", "{ws}/space.yaml", "--method", "lors", "--out", "{ws}/m"], "--method"),
    "merge on cuda without one": ([*MERGE, "--out", "{ws}/m", "--device", "cuda"], "cuda"),
    # ---- evaluate ----------------------------------------------------------------------------------------------
    "evaluate empty split": ([*EVAL[:4], "{ws}/data_empty", "--device", "cpu"], "the dev split of {ws}/data_empty has no clips"),
    "evaluate struct audio": (
        [*EVAL[:4], "{ws}/data_struct", "--device", "cpu"],
        "column 'audio' of the dev split of {ws}/data_struct is a struct",
    ),
    "evaluate 8 kHz data": ([*EVAL[:4], "{ws}/data_8k", "--device", "cpu"], "{ws}/data_8k records audio at 8000 Hz"),
    "evaluate NaN weights": (
        ["evaluate", "--model", "{ws}/evalnan", "--data", "{ws}/data", "--device", "cpu"],
        "--model {ws}/evalnan: tensor",
    ),
    "evaluate corrupt safetensors": (
        ["evaluate", "--model", "{ws}/evalcorrupt", "--data", "{ws}/data", "--device", "cpu"],
        "{ws}/evalcorrupt/model.safetensors is not a readable safetensors file",
    ),
    "evaluate not a whisper config": (
        ["evaluate", "--model", "{ws}/evalbert", "--data", "{ws}/data"],
        "{ws}/evalbert/config.json describes a 'bert' model",
    ),
    "evaluate missing model": (["evaluate", "--model", "{ws}/nothing", "--data", "{ws}/data"], "{ws}/nothing does not exist"),
    "evaluate missing data": ([*EVAL[:4], "{ws}/nodata"], "{ws}/nodata does not exist"),
    "evaluate data not a dataset": ([*EVAL[:4], "{ws}/base"], "{ws}/base"),
    "evaluate model without tokenizer": (["evaluate", "--model", "{ws}/experts/de", "--data", "{ws}/data"], "no tokenizer files"),
    "evaluate unknown split": ([*EVAL, "--split", "train"], "unknown split 'train'"),
    "evaluate unknown language": ([*EVAL, "--langs", "xx"], "language(s) xx not in the dev split"),
    "evaluate bad limit": ([*EVAL, "--limit", "0"], "--limit must be a positive integer"),
    "evaluate unknown task": ([*EVAL, "--tasks", "summarise"], "summarise"),
    # ---- search: everything refused before Ray starts -----------------------------------------------------
    "search name escapes runs dir": ([*SEARCH, "--name", "../escaped"], "--name '../escaped'"),
    "search name with a separator": ([*SEARCH, "--name", "a/b"], "--name 'a/b'"),
    "search name dot-dot": ([*SEARCH, "--name", ".."], "--name '..'"),
    "search runs dir inside an expert": (
        ["search", "{ws}/space.yaml", "--runs-dir", "{ws}/experts/de"],
        "lies inside the expert de",
    ),
    "search run dir is the data": (
        ["search", "{ws}/space.yaml", "--runs-dir", "{ws}", "--name", "data"],
        "is the data {ws}/data",
    ),
    "search runs dir unwritable": (["search", "{ws}/space.yaml", "--runs-dir", "/sys/lors-runs"], "/sys is not writable"),
    "search scale nan": (["search", "{ws}/spaces/nan.yaml"], "scale: value must be a finite number"),
    "search scale high inf": (["search", "{ws}/spaces/inf.yaml"], "scale: high must be a finite number"),
    "search expert shape differs": (
        ["search", "{ws}/spaces/wide.yaml"],
        "experts.1.path: tensor 'model.decoder.layers.0.fc1.weight' has shape (64, 33)",
    ),
    "search expert corrupt safetensors": (
        ["search", "{ws}/spaces/corrupt.yaml"],
        "experts.1.path: {ws}/broken/corrupt/model.safetensors",
    ),
    "search struct audio": (
        ["search", "{ws}/spaces/struct.yaml"],
        "data.path: column 'audio' of the dev split of {ws}/data_struct is a struct",
    ),
    "search 8 kHz data": (["search", "{ws}/spaces/8k.yaml"], "data.path: {ws}/data_8k records audio at 8000 Hz"),
    # ---- export ----------------------------------------------------------------------------------------------
    "export into the run's tune dir, forced": (
        ["export", "{ws}/runs/run1", "--out", "{ws}/runs/run1/tune", "--force"],
        "lies inside the run directory",
    ),
    "export over the run dir, forced": (
        ["export", "{ws}/runs/run1", "--out", "{ws}/runs/run1", "--force"],
        "is the run directory",
    ),
    "export over the runs dir, forced": (
        ["export", "{ws}/runs/run1", "--out", "{ws}/runs", "--force"],
        "contains the run directory",
    ),
    "export over the base, forced": (["export", "{ws}/runs/run1", "--out", "{ws}/base", "--force"], "is the base {ws}/base"),
    "export inside the data": (["export", "{ws}/runs/run1", "--out", "{ws}/data/exported"], "lies inside the data {ws}/data"),
    "export unwritable": (["export", "{ws}/runs/run1", "--out", "/sys/lors-exported"], "/sys is not writable"),
    "export missing run": (["export", "{ws}/runs/none", "--out", "{ws}/x"], "{ws}/runs/none does not exist"),
    "export not a run": (["export", "{ws}/base", "--out", "{ws}/x"], "{ws}/base is not a search run"),
    # ---- report ----------------------------------------------------------------------------------------------
    "report into the run's tune dir": (
        ["report", "{ws}/runs/run1", "--out", "{ws}/runs/run1/tune/r.html"],
        "lies inside the run file tune",
    ),
    "report inside an expert": (["report", "{ws}/runs/run1", "--out", "{ws}/experts/de/r.html"], "lies inside the expert de"),
    "report unwritable": (["report", "{ws}/runs/run1", "--out", "/sys/lors-report.html"], "/sys is not writable"),
    "report not html": (["report", "{ws}/runs/run1", "--out", "{ws}/r.txt"], "--out must name an .html file"),
    "report missing run": (["report", "{ws}/runs/none"], "{ws}/runs/none does not exist"),
    # ---- demo: refused before the build starts ----------------------------------------------------------------
    "demo name escapes runs dir": (["demo", "--quick", "--out", "{ws}/demo", "--name", "../x"], "--name '../x'"),
    "demo runs dir inside the demo": (
        ["demo", "--quick", "--out", "{ws}/base", "--runs-dir", "{ws}/base/runs"],
        "--runs-dir {ws}/base/runs lies inside the demo directory {ws}/base",
    ),
}
# Run once more as a subprocess of the console script (one per command at least, the noisy ones first).
SUBPROCESS = (
    "merge raw-pickle .pt base",
    "merge planted-pickle .pt base",
    "merge out is an expert, forced",
    "evaluate struct audio",
    "evaluate NaN weights",
    "search name escapes runs dir",
    "search expert shape differs",
    "export into the run's tune dir, forced",
    "report into the run's tune dir",
)


def _spaces(ws: Workspace) -> None:
    """The broken search spaces, once."""
    import yaml
    from security_fixtures import space_dict

    folder = ws.root / "spaces"
    if folder.exists():
        return
    folder.mkdir()
    experts = lambda path: [  # noqa: E731 - the second expert replaced
        {"name": "de", "path": str(ws.root / "experts" / "de"), "language": "de"},
        {"name": "es", "path": str(path), "language": "es"},
    ]
    variants = {
        "nan": {"scale": float("nan")},
        "inf": {"scale": {"low": 0.1, "high": float("inf")}},
        "wide": {"experts": experts(ws.root / "broken" / "wide")},
        "corrupt": {"experts": experts(ws.root / "broken" / "corrupt")},
        "struct": {"data": {"path": str(ws.root / "data_struct"), "split": "dev"}},
        "8k": {"data": {"path": str(ws.root / "data_8k"), "split": "dev"}},
    }
    for name, changes in variants.items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(space_dict(ws.root, name, **changes)), encoding="utf-8")


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and directory under `root` with its size and modification time. Feature caches beside the
    data are left out: a cache of an input, rebuilt at will, not an output."""
    out: dict[str, tuple[int, int]] = {}
    for path in root.rglob("*"):
        if "features" in path.relative_to(root).parts:
            continue
        stat = path.lstat()
        out[str(path.relative_to(root))] = (stat.st_size if path.is_file() else 0, stat.st_mtime_ns)
    return out


def _check(ws: Workspace, case: str, code: int, stdout: str, stderr: str, before: dict[str, tuple[int, int]]) -> None:
    argv, expected = CASES[case]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, f"exit {code}; stderr: {stderr}"
    assert "Traceback" not in stderr + stdout
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{stderr}"
    assert lines[0].startswith(f"lors-search {argv[0]}: error: "), lines[0]
    assert expected.format(ws=ws.root) in lines[0], lines[0]
    assert "weights_only=False" not in lines[0]
    assert _snapshot(ws.root) == before, "a file was created, changed or removed"
    assert not Path("/tmp/lors-search-planted-pickle-ran").exists()


@pytest.fixture(scope="module")
def ws(workspace: Workspace) -> Workspace:
    _spaces(workspace)
    return workspace


def test_catalogue_is_large_enough() -> None:
    commands = {argv[0] for argv, _ in CASES.values()}
    assert len(CASES) >= 40 and commands == {"merge", "evaluate", "search", "export", "report", "demo"}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(ws: Workspace, case: str, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ws.root)
    argv = [part.format(ws=ws.root) for part in CASES[case][0]]
    before = _snapshot(ws.root)
    code = main(argv)
    captured = capfd.readouterr()
    _check(ws, case, code, captured.out, captured.err, before)


@pytest.mark.slow  # a fresh interpreter per case; test_bad_input checks every case in-process
@pytest.mark.parametrize("case", SUBPROCESS)
def test_bad_input_subprocess(ws: Workspace, case: str) -> None:
    argv = [part.format(ws=ws.root) for part in CASES[case][0]]
    before = _snapshot(ws.root)
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from lors_search.cli import main; sys.exit(main())", *argv],
        capture_output=True, text=True, cwd=ws.root, env=env, timeout=120,
    )
    _check(ws, case, done.returncode, done.stdout, done.stderr, before)
