"""Saved demo models are ordinary Whisper checkpoints: pipeline() loads them offline, generate() builds
Whisper's prompts, and the restricted tokenizer round-trips every language's text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lors_search.demo.recipe import QUICK_LANGUAGES
from lors_search.whisper.tokenizer import WHISPER_LANGUAGES, load_tokenizer

ALL_TEN = ("ca", "de", "es", "fr", "it", "id", "nl", "pt", "ru", "sv")


@pytest.fixture(scope="module")
def dev(quick_demo_dir: Path):
    import datasets

    return datasets.load_from_disk(str(quick_demo_dir / "data"))["dev"]


def test_pipeline_transcribes_a_dev_utterance(quick_demo_dir: Path, dev, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    lang = QUICK_LANGUAGES[0]
    row = dev.filter(lambda r: r["language"] == lang)[0]
    asr = transformers.pipeline("automatic-speech-recognition", model=str(quick_demo_dir / "experts" / lang),
                                device="cpu")
    def audio() -> dict:  # the pipeline consumes its input dict
        return {"raw": np.asarray(row["audio"], dtype=np.float32), "sampling_rate": 16000}

    out = asr(audio(), generate_kwargs={"language": lang, "task": "transcribe"})
    assert isinstance(out["text"], str) and out["text"].strip()
    translated = asr(audio(), generate_kwargs={"language": lang, "task": "translate"})
    assert isinstance(translated["text"], str)


@pytest.mark.parametrize("task", ["transcribe", "translate"])
def test_generate_uses_whisper_prompt(quick_demo_dir: Path, dev, task: str) -> None:
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    model_dir = quick_demo_dir / "base"
    model = WhisperForConditionalGeneration.from_pretrained(model_dir).eval()
    processor = WhisperProcessor.from_pretrained(model_dir)
    lang = QUICK_LANGUAGES[1]
    row = dev.filter(lambda r: r["language"] == lang)[0]
    features = processor(np.asarray(row["audio"], dtype=np.float32), sampling_rate=16000,
                         return_tensors="pt").input_features
    assert features.shape[-1] == 2 * model.config.max_source_positions
    with torch.no_grad():
        out = model.generate(features, language=lang, task=task, max_new_tokens=20, return_dict_in_generate=True)
    ids = out.sequences[0].tolist()  # with the prompt (a plain generate() returns only the new tokens)
    tok = processor.tokenizer
    expected = tok.convert_tokens_to_ids(["<|startoftranscript|>", f"<|{lang}|>", f"<|{task}|>", "<|notimestamps|>"])
    assert ids[:4] == expected


def test_tokenizer_round_trips_every_language(quick_demo_dir: Path) -> None:
    import datasets
    from transformers import WhisperTokenizer

    tok = WhisperTokenizer.from_pretrained(quick_demo_dir / "tokenizer")
    full = load_tokenizer()
    corpus = datasets.load_from_disk(str(quick_demo_dir / "data"))
    seen_languages = set()
    for split in corpus.values():
        for lang, transcript, translation in zip(split["language"], split["transcript"], split["translation"], strict=True):
            seen_languages.add(lang)
            for text in (transcript, translation):
                ids = tok(text, add_special_tokens=False).input_ids
                assert tok.decode(ids) == text
                # the same BPE token strings as Whisper's full multilingual vocabulary
                assert tok.convert_ids_to_tokens(ids) == full.convert_ids_to_tokens(
                    full(text, add_special_tokens=False).input_ids
                )
    assert seen_languages == set(QUICK_LANGUAGES)
    assert len(tok) < len(full) // 10


def test_tokenizer_prompts_for_all_ten_languages(quick_demo_dir: Path) -> None:
    from transformers import WhisperTokenizer

    tok = WhisperTokenizer.from_pretrained(quick_demo_dir / "tokenizer")
    assert set(ALL_TEN) <= set(WHISPER_LANGUAGES)
    for lang in ALL_TEN:
        for task in ("transcribe", "translate"):
            tok.set_prefix_tokens(language=lang, task=task, predict_timestamps=False)
            ids = tok("", add_special_tokens=True).input_ids
            assert tok.convert_ids_to_tokens(ids)[:4] == [
                "<|startoftranscript|>", f"<|{lang}|>", f"<|{task}|>", "<|notimestamps|>"
            ]
