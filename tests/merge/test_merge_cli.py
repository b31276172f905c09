"""`lors-search merge` end to end on real files: round trips that transformers reloads, and every kind of
bad input giving one line on stderr, exit code 2 and no output directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from merge_fixtures import LANG_TO_ID, save_model, tiny_config, write_openai
from transformers import WhisperForConditionalGeneration

from lors_search.cli import main
from lors_search.merge_config import load_merge_config
from lors_search.merging import MergeParams, merge_state_dicts


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["merge", *[str(a) for a in args]])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_flags_round_trip_reloads_with_from_pretrained(tiny, tmp_path: Path, capsys) -> None:
    out = tmp_path / "merged"
    args = ["--base", tiny.base_dir, "--expert", f"de={tiny.expert_dirs['de']}", "--expert", f"es={tiny.expert_dirs['es']}",
            "--method", "lors", "--rank", "3", "--density", "0.3", "--out", out]
    code, stdout, stderr = run_cli(args, capsys)
    assert code == 0 and stderr == ""
    assert f"into {out}" in stdout.splitlines()[-1]

    model = WhisperForConditionalGeneration.from_pretrained(out)
    expected = merge_state_dicts(
        tiny.base,
        {"de": tiny.experts["de"], "es": tiny.experts["es"]},
        MergeParams(method="lors", params={"rank": 3, "density": 0.3}),
    )
    state = model.state_dict()
    assert all(torch.equal(state[name], tensor) for name, tensor in expected.items())
    assert model.generation_config.lang_to_id == LANG_TO_ID

    # The saved merge config reproduces the merge exactly.
    saved = load_merge_config(out / "merge_config.yaml")
    assert [e.name for e in saved.experts] == ["de", "es"] and saved.params.rank == 3
    again = tmp_path / "again"
    code, _, _ = run_cli(["--config", out / "merge_config.yaml", "--out", again], capsys)
    assert code == 0
    assert (again / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()


def test_config_round_trip_with_overrides_and_dtype(tiny, tmp_path: Path, capsys) -> None:
    root = tiny.base_dir.parent
    config = tmp_path / "merge.yaml"
    config.write_text(
        f"base: {tiny.base_dir}\n"
        "experts:\n" + "".join(f"  - {{name: {n}, path: {p}}}\n" for n, p in tiny.expert_dirs.items()) +
        "method: dare\nparams: {density: 0.5, seed: 11}\ndtype: float16\n"
        "overrides:\n  - select: {stack: encoder, layers: [0, 0]}\n    set: {scale: 0.0}\n"
    )
    out = tmp_path / "dare"
    code, _, stderr = run_cli(["--config", config, "--out", out], capsys)
    assert code == 0 and stderr == "", stderr
    model = WhisperForConditionalGeneration.from_pretrained(out)
    assert model.dtype == torch.float16
    state = model.state_dict()
    assert torch.equal(state["model.encoder.layers.0.fc1.weight"], tiny.base["model.encoder.layers.0.fc1.weight"].half())
    assert not torch.equal(state["model.encoder.layers.1.fc1.weight"], tiny.base["model.encoder.layers.1.fc1.weight"].half())
    assert (out / "tokenizer.json").exists() and "dare" in (out / "README.md").read_text()
    assert root.exists()


def test_openai_checkpoint_expert(tiny, tmp_path: Path, capsys) -> None:
    expert = write_openai(tmp_path / "fr.pt", tiny.experts["fr"], tiny.config)
    out = tmp_path / "merged"
    code, _, stderr = run_cli(["--base", tiny.base_dir, "--expert", expert, "--expert", tiny.expert_dirs["de"],
                               "--method", "ties", "--out", out], capsys)
    assert code == 0 and stderr == ""
    expected = merge_state_dicts(
        tiny.base,
        {"fr": {n: t.half().float() for n, t in tiny.experts["fr"].items()}, "de": tiny.experts["de"]},
        MergeParams(method="ties"),
    )
    state = WhisperForConditionalGeneration.from_pretrained(out).state_dict()
    assert all(torch.equal(state[name], tensor) for name, tensor in expected.items())
    assert "| fr |" in (out / "README.md").read_text()


@pytest.fixture(scope="module")
def bad_inputs(tiny, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad_inputs")
    wide = tiny_config(encoder_ffn_dim=128)
    state = WhisperForConditionalGeneration(wide).state_dict()
    state.pop("proj_out.weight")
    paths = {"wide": save_model(root / "wide", state, wide)}
    corrupt = root / "corrupt"
    shutil.copytree(tiny.expert_dirs["de"], corrupt)
    (corrupt / "model.safetensors").write_bytes(b"\x00" * 64)
    paths["corrupt"] = corrupt
    nan_state = {name: tensor.clone() for name, tensor in tiny.experts["de"].items()}
    nan_state["model.decoder.layers.0.self_attn.q_proj.weight"][1, 2] = float("nan")
    paths["nan"] = save_model(root / "nan", nan_state, tiny.config)
    yaml_file = root / "bad.yaml"
    yaml_file.write_text(f"base: {tiny.base_dir}\nexperts: [{tiny.expert_dirs['de']}]\nmethod: lors\nrank: 3\n")
    paths["yaml"] = yaml_file
    return paths


CASES = {
    "mismatched architecture": (["--expert", "{wide}", "--method", "lors"], "encoder_ffn_dim is 128"),
    "missing base": (["--expert", "{de}", "--method", "lors", "--base", "{missing}"], "does not exist"),
    "missing expert": (["--expert", "{missing}.pt", "--method", "lors"], "does not exist"),
    "corrupt expert": (["--expert", "{corrupt}", "--method", "lors"], "not a readable safetensors file"),
    "nan weights": (["--expert", "{nan}", "--method", "lors"], "holds NaN or infinite values"),
    "unknown method": (["--expert", "{de}", "--method", "magic"], "unknown merge method 'magic'"),
    "parameter of another method": (["--expert", "{de}", "--method", "ties", "--rank", "4"], "takes no parameter 'rank'"),
    "seed for lors": (["--expert", "{de}", "--method", "lors", "--seed", "1"], "takes no parameter 'seed'"),
    "density above 1": (
        ["--expert", "{de}", "--method", "lors", "--density", "1.5"], "--density: Input should be less than or equal to 1"
    ),
    "negative rank": (
        ["--expert", "{de}", "--method", "lors", "--rank", "-2"], "--rank: Input should be greater than or equal to 0"
    ),
    "bad dtype": (["--expert", "{de}", "--method", "lors", "--dtype", "int8"], "dtype"),
    "no expert": (["--method", "lors"], "missing --expert"),
    "invalid yaml": (["--config", "{yaml}"], "rank: Extra inputs are not permitted"),
    "config plus flags": (["--config", "{yaml}", "--density", "0.1"], "--config cannot be combined with --base, --density"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_one_line_and_no_output(tiny, bad_inputs, tmp_path: Path, capsys, case: str) -> None:
    extra, message = CASES[case]
    values = {**{k: str(v) for k, v in bad_inputs.items()}, "de": str(tiny.expert_dirs["de"]),
              "missing": str(tmp_path / "nowhere")}
    args = [part.format(**values) for part in extra]
    if "--config" not in args or case == "config plus flags":
        args = ["--base", str(tiny.base_dir), *args]
    out = tmp_path / "out"
    code, _, stderr = run_cli([*args, "--out", out], capsys)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lors-search merge: error: "), stderr
    assert message in lines[0]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # nothing half-written beside it either


def test_existing_output_directory_is_left_alone(tiny, tmp_path: Path, capsys) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    merge = ["--base", tiny.base_dir, "--expert", tiny.expert_dirs["de"], "--method", "lors", "--out", out]
    code, _, stderr = run_cli(merge, capsys)
    assert code == 2 and "already exists (use --force" in stderr and len(stderr.strip().splitlines()) == 1
    assert [p.name for p in out.iterdir()] == ["mine.txt"]
    code, _, _ = run_cli([*merge, "--force"], capsys)
    assert code == 0 and (out / "model.safetensors").exists() and not (out / "mine.txt").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message when CUDA is absent")
def test_cuda_device_without_cuda_is_a_user_error(tiny, tmp_path: Path, capsys) -> None:
    code, _, stderr = run_cli(["--base", tiny.base_dir, "--expert", tiny.expert_dirs["de"], "--method", "lors",
                               "--device", "cuda", "--out", tmp_path / "o"], capsys)
    assert code == 2 and "CUDA is not available" in stderr


@pytest.mark.slow  # a fresh interpreter through the console script; the other tests call the same main in-process
def test_console_entry_point_exit_code_and_stderr(tiny, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lors_search", "merge", "--base", str(tiny.base_dir), "--expert",
         str(tiny.expert_dirs["de"]), "--method", "sparse", "--density", "1.5", "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "lors-search merge: error: --density: Input should be less than or equal to 1"
    ]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("method", "flags", "params"),
    [
        ("iso_c", ["--scale", "1.2", "--dense-scale", "0.4"], {"scale": 1.2, "dense_scale": 0.4}),
        ("iso_cts", ["--common-fraction", "0.6"], {"common_fraction": 0.6}),
        ("tsv_m", ["--scale", "0.9", "--sv-fraction", "0.5"], {"scale": 0.9, "sv_fraction": 0.5}),
    ],
)
def test_interference_methods_round_trip_through_from_pretrained(
    tiny, tmp_path: Path, capsys, method: str, flags: list[str], params: dict[str, float]
) -> None:
    out = tmp_path / method
    args = ["--base", tiny.base_dir, *(a for name, path in tiny.expert_dirs.items() for a in ("--expert", f"{name}={path}")),
            "--method", method, *flags, "--out", out]
    code, _, stderr = run_cli(args, capsys)
    assert code == 0 and stderr == ""
    state = WhisperForConditionalGeneration.from_pretrained(out).state_dict()
    expected = merge_state_dicts(tiny.base, dict(tiny.experts), MergeParams(method=method, params=params))
    assert all(torch.equal(state[name], tensor) for name, tensor in expected.items())
    saved = load_merge_config(out / "merge_config.yaml")
    assert saved.method == method and saved.params.given() == params
