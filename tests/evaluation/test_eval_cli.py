"""`lors-search evaluate`: JSON and table output, the test split on request, one-line errors with exit 2."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from eval_fixtures import CLIPS_PER_LANGUAGE, LANGUAGES, WINDOW_SECONDS

from lors_search.cli import main

CELLS = {f"{lang}/{task}" for lang in LANGUAGES for task in ("transcribe", "translate")}


@pytest.mark.slow  # the console script in a subprocess; test_json_matches_the_library checks the same in-process
def test_json_is_the_only_stdout(bench) -> None:
    """Through the installed console script, as a user runs it."""
    script = Path(sys.executable).with_name("lors-search")
    done = subprocess.run(
        [str(script), "evaluate", "--model", str(bench.model_dir), "--data", str(bench.data_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},  # see conftest._one_thread
    )
    assert done.returncode == 0, done.stderr
    cells = json.loads(done.stdout)
    assert set(cells) == CELLS
    for key, metrics in cells.items():
        assert metrics["n"] == CLIPS_PER_LANGUAGE["dev"]
        names = {"wer", "cer", "n"} if key.endswith("/transcribe") else {"bleu", "chrf", "n"}
        assert set(metrics) == names
    assert "utterances" in done.stderr  # the summary goes to stderr


def test_json_matches_the_library(bench, model, tokenizer, capsys) -> None:
    from lors_search.evaluation.evalset import load_eval_set
    from lors_search.evaluation.evaluator import Evaluator

    code = main(["evaluate", "--model", str(bench.model_dir), "--data", str(bench.data_dir), "--split", "test",
                 "--json", "--langs", "fr", "es", "--tasks", "translate", "--limit", "3", "--device", "cpu"])
    assert code == 0
    cells = json.loads(capsys.readouterr().out)
    test = load_eval_set(bench.data_dir, "test", window_seconds=WINDOW_SECONDS, languages=["es", "fr"], tasks=["translate"],
                         allow_test=True)
    assert cells == json.loads(json.dumps(Evaluator(model, tokenizer, test).evaluate(3).cells))
    assert set(cells) == {"es/translate", "fr/translate"} and all(m["n"] == 3 for m in cells.values())


def test_table(bench, capsys) -> None:
    assert main(["evaluate", "--model", str(bench.model_dir), "--data", str(bench.data_dir), "--batch-size", "5"]) == 0
    out = capsys.readouterr().out
    for language in LANGUAGES:
        assert f"│ {language} " in out
    assert "WER %" in out and "BLEU" in out


@pytest.fixture(scope="module")
def no_tokenizer(bench, tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("bad") / "model"
    shutil.copytree(bench.model_dir, copy)
    for name in ("tokenizer.json", "vocab.json"):
        (copy / name).unlink(missing_ok=True)
    return copy


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "{tmp}/nope", "--data", "{data}"], "model directory {tmp}/nope does not exist"),
        (["--model", "{model}", "--data", "{tmp}/nope"], "data directory {tmp}/nope does not exist"),
        (["--model", "{model}", "--data", "{data}", "--split", "validation"], "unknown split 'validation'"),
        (["--model", "{model}", "--data", "{data}", "--langs", "sv"], "language(s) sv not in the dev split"),
        (["--model", "{model}", "--data", "{data}", "--tasks", "summarise"], "unknown task(s) summarise"),
        (["--model", "{model}", "--data", "{data}", "--limit", "0"], "--limit must be a positive integer"),
        (["--model", "{model}", "--data", "{data}", "--batch-size", "x"], "--batch-size must be a positive integer"),
        (["--model", "{model}", "--data", "{data}", "--max-new-tokens", "99"], "max_new_tokens must be between 1"),
        (["--model", "{model}", "--data", "{data}", "--device", "tpu"], "device 'tpu'"),
        (["--model", "{data}", "--data", "{data}"], "has no config.json"),
        (["--model", "{no_tok}", "--data", "{data}"], "has no tokenizer files"),
        (["--data", "{data}"], "--model DIR is required"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(bench, no_tokenizer, tmp_path, capsys, args, message) -> None:
    values = {"tmp": tmp_path, "data": bench.data_dir, "model": bench.model_dir, "no_tok": no_tokenizer}
    code = main(["evaluate", *(arg.format(**values) for arg in args)])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("lors-search evaluate: error: ")
    assert message.format(**values) in lines[0]
