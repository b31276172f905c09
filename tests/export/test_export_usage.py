"""An export used as its card says: the generation config names the experts' languages, is multilingual and has
a default task; the usage snippet, run through transformers.pipeline() on every dev clip and both tasks, gives
exactly the hypotheses the evaluator scored; language identification is measured per language."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lors_search.cli import main
from lors_search.export.usage import usage_snippet


@pytest.fixture(scope="module")
def exported(search_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export-usage") / "best"
    assert main(["export", str(search_run), "--out", str(out), "--device", "cpu"]) == 0
    return out


def test_generation_config_and_card(exported: Path) -> None:
    config = json.loads((exported / "generation_config.json").read_text())
    assert sorted(config["lang_to_id"]) == ["<|de|>", "<|es|>"]  # the experts' languages, nothing else
    assert config["is_multilingual"] is True and config["task"] == "transcribe"
    from transformers import GenerationConfig

    loaded = GenerationConfig.from_pretrained(exported)
    assert loaded.task == "transcribe" and sorted(loaded.lang_to_id) == ["<|de|>", "<|es|>"]

    evaluation = json.loads((exported / "eval_dev.json").read_text())
    per_language = evaluation["language_id"]
    clips = {h["language"]: set() for h in evaluation["hypotheses"]}
    for h in evaluation["hypotheses"]:
        clips[h["language"]].add(h["id"])
    assert {lang: entry["clips"] for lang, entry in per_language.items()} == {k: len(v) for k, v in clips.items()}
    for entry in per_language.values():
        assert entry["accuracy"] == entry["correct"] / entry["clips"]
        assert sum(entry["confused_with"].values()) == entry["clips"] - entry["correct"]

    card = (exported / "README.md").read_text()
    assert "## Usage" in card and "## Language identification" in card
    assert usage_snippet(exported, ["de", "es"]) in card
    assert 'generate_kwargs={"language": "de", "task": "transcribe"}' in card


def test_usage_snippet_gives_the_evaluated_hypotheses(exported: Path, export_bench: Path, monkeypatch) -> None:
    import datasets

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    snippet = usage_snippet(exported)
    # Run the snippet as printed, with the clip, language and task of each evaluated row substituted.
    setup, call = snippet.rsplit("\n", 1)
    call = call.split("  #")[0]
    assert call == 'asr("clip.wav", generate_kwargs={"language": "de", "task": "transcribe"})'
    namespace: dict = {}
    exec(setup, namespace)  # the snippet is our own output
    asr = namespace["asr"]
    dev = datasets.load_from_disk(str(export_bench / "data"))["dev"]
    row_of = {clip_id: i for i, clip_id in enumerate(dev["id"])}
    hypotheses = json.loads((exported / "eval_dev.json").read_text())["hypotheses"]
    assert {h["task"] for h in hypotheses} == {"transcribe", "translate"}
    for h in hypotheses:
        audio = np.asarray(dev[row_of[h["id"]]]["audio"], dtype=np.float32)
        text = asr({"raw": audio, "sampling_rate": 16000},
                   generate_kwargs={"language": h["language"], "task": h["task"]})["text"]
        assert text.strip() == h["hypothesis"], (h["id"], h["task"])
