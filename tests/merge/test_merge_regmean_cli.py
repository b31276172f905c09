"""`lors-search merge --method regmean --gram-data DIR` on real tiny checkpoints and a real eSpeak NG corpus:
the merge round-trips through WhisperForConditionalGeneration.from_pretrained with exactly the weights of the
engine fed the experts' own Grams, the saved merge config reproduces it (Grams then read from the cache), and
a missing corpus or an expert of unknown language is refused in one line before anything is loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from merge_fixtures import RegMeanBench as Bench
from tiny_bench_kit import one_thread
from transformers import WhisperForConditionalGeneration

from lors_search.cli import main
from lors_search.checkpoints import load_checkpoint
from lors_search.merging import MergeParams, merge_state_dicts
from lors_search.whisper.gram import expert_grams, mean_grams



@pytest.fixture(scope="module")
def bench(regmean_bench: Bench) -> Bench:
    return regmean_bench


def run_cli(args: list[object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["merge", *[str(a) for a in args]])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def expert_args(bench: Bench) -> list[object]:
    return [arg for language, path in bench.experts.items() for arg in ("--expert", f"{language}={path}")]


def test_regmean_merge_round_trips_and_its_config_reproduces_it(bench: Bench, tmp_path: Path, capsys) -> None:
    out = tmp_path / "merged"
    cache = tmp_path / "grams"
    args = ["--base", bench.base, *expert_args(bench), "--method", "regmean", "--alpha", "0.5", "--scale", "0.8",
            "--gram-data", bench.data, "--gram-clips", 6, "--gram-cache", cache, "--out", out]
    with one_thread():
        code, stdout, stderr = run_cli(args, capsys)
    assert code == 0 and stderr == ""
    assert "Gram matrices of expert de: 6 'de' train clips of" in stdout
    assert f"into {out}" in stdout.splitlines()[-1]

    model = WhisperForConditionalGeneration.from_pretrained(out)
    base = load_checkpoint(str(bench.base)).state_dict
    states, grams = {}, {}
    for language, path in bench.experts.items():
        checkpoint = load_checkpoint(str(path))
        grams[language] = mean_grams(expert_grams(checkpoint, bench.data, language, clips=6))
        states[language] = dict(checkpoint.state_dict)
    want = merge_state_dicts(base, states, MergeParams(method="regmean", params={"alpha": 0.5, "scale": 0.8}),
                             grams=grams)
    state = model.state_dict()
    assert all(torch.equal(state[name], tensor) for name, tensor in want.items())
    # RegMean moved the eligible matrices away from the plain average (the Grams matter).
    average = merge_state_dicts(base, states, MergeParams(method="task_arithmetic", params={"scale": 0.4}))
    fc1 = "model.encoder.layers.0.fc1.weight"
    assert not torch.allclose(state[fc1], average[fc1], atol=1e-4)

    saved = yaml.safe_load((out / "merge_config.yaml").read_text())
    assert saved["gram_data"] == str(bench.data.resolve()) and saved["gram_clips"] == 6
    assert [(e["name"], e["language"]) for e in saved["experts"]] == [("de", "de"), ("es", "es")]
    assert "gram_subset" not in saved  # this corpus tags no "expert" subset: every train clip of the language
    again = tmp_path / "again"
    with one_thread():
        code, stdout, _ = run_cli(["--config", out / "merge_config.yaml", "--gram-cache", cache, "--out", again], capsys)
    assert code == 0 and stdout.count("read from the cache") == 2
    assert (again / "model.safetensors").read_bytes() == (out / "model.safetensors").read_bytes()


def test_regmean_without_gram_data_is_refused_in_one_line(bench: Bench, tmp_path: Path, capsys) -> None:
    out = tmp_path / "merged"
    code, stdout, stderr = run_cli(["--base", bench.base, *expert_args(bench), "--method", "regmean", "--out", out],
                                   capsys)
    assert code == 2 and stdout == "" and not out.exists()
    assert stderr.count("\n") == 1 and "regmean needs Gram matrices of each expert's layer inputs: give --gram-data DIR" in stderr


def test_an_expert_of_unknown_language_is_refused(bench: Bench, tmp_path: Path, capsys) -> None:
    out = tmp_path / "merged"
    args = ["--base", bench.base, "--expert", f"first={bench.experts['de']}", "--expert", f"es={bench.experts['es']}",
            "--method", "regmean", "--gram-data", bench.data, "--out", out]
    code, _, stderr = run_cli(args, capsys)
    assert code == 2 and not out.exists()
    assert stderr.count("\n") == 1 and "expert 'first': which language's train clips give its Grams?" in stderr


def test_a_gram_corpus_without_train_split_is_refused(bench: Bench, tmp_path: Path, capsys) -> None:
    out = tmp_path / "merged"
    args = ["--base", bench.base, *expert_args(bench), "--method", "regmean", "--gram-data", tmp_path, "--out", out]
    code, _, stderr = run_cli(args, capsys)
    assert code == 2 and not out.exists() and stderr.count("\n") == 1
    assert "is not a dataset saved with save_to_disk" in stderr
