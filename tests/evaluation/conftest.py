"""Fixtures for the evaluation tests: a tiny corpus in the speech package's format (tones standing in for speech,
real Whisper log-mels) and a tiny Whisper trained on it for a few seconds, so that decoding stops at varied
lengths, both written to disk once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

LANGUAGES = ("de", "es", "fr")
WORDS = {
    "de": ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben"),
    "es": ("cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete"),
    "fr": ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept"),
}
ENGLISH = ("zero", "one", "two", "three", "four", "five", "six", "seven")
CLIPS_PER_LANGUAGE = {"train": 24, "dev": 12, "test": 4}
FORMS = ("short", "long")
SAMPLE_RATE = 16_000
WINDOW_SECONDS = 1


@dataclass(frozen=True)
class TinyBench:
    data_dir: Path
    model_dir: Path


def _clip(language: str, digits: list[int]) -> np.ndarray:
    """A sequence of 0.15-s tones, one per digit; the pitch set depends on the language."""
    base = 300.0 + 150.0 * LANGUAGES.index(language)
    t = np.arange(int(0.15 * SAMPLE_RATE)) / SAMPLE_RATE
    tones = [0.3 * np.sin(2 * np.pi * (base + 90.0 * d) * t) * np.hanning(len(t)) for d in digits]
    return np.concatenate([np.zeros(800), *tones, np.zeros(800)]).astype(np.float32)


def _split_rows(split: str, rng: np.random.Generator) -> dict[str, list]:
    rows: dict[str, list] = {k: [] for k in ("id", "language", "transcript", "translation", "audio", "domain",
                                             "form", "subset")}
    for language in LANGUAGES:
        for i in range(CLIPS_PER_LANGUAGE[split]):
            form = FORMS[i % 2]
            digits = rng.integers(0, 8, size=1 if form == "short" else int(rng.integers(2, 5))).tolist()
            rows["id"].append(f"{split}-{language}-{i:03d}")
            rows["language"].append(language)
            rows["transcript"].append(" ".join(WORDS[language][d] for d in digits))
            rows["translation"].append(" ".join(ENGLISH[d] for d in digits))
            rows["audio"].append(_clip(language, digits))
            rows["domain"].append("tones")
            rows["form"].append(form)
            rows["subset"].append("eval")
    return rows


def write_corpus(out: Path, seed: int = 0) -> Path:
    import datasets

    rng = np.random.default_rng(seed)
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "language": datasets.Value("string"),
            "transcript": datasets.Value("string"),
            "translation": datasets.Value("string"),
            "audio": datasets.Sequence(datasets.Value("float32")),
            "domain": datasets.Value("string"),
            "form": datasets.Value("string"),
            "subset": datasets.Value("string"),
        }
    )
    splits = {s: datasets.Dataset.from_dict(_split_rows(s, rng), features=features) for s in CLIPS_PER_LANGUAGE}
    datasets.DatasetDict(splits).save_to_disk(str(out))
    return out


def _train(model, tokenizer, data_dir: Path, steps: int = 200) -> None:
    """A few steps of teacher-forced training on both tasks, enough to make outputs end at varied lengths."""
    import datasets

    from lors_search.evaluation.decoding import PromptIds
    from lors_search.evaluation.evalset import _features_from_audio

    train = datasets.load_from_disk(str(data_dir))["train"]
    feats = torch.from_numpy(_features_from_audio(data_dir, "train", WINDOW_SECONDS).astype(np.float32))
    ids = PromptIds.from_model(model)
    rows = []
    for clip, (lang, tr, en) in enumerate(zip(train["language"], train["transcript"], train["translation"])):
        for task, text in (("transcribe", tr), ("translate", en)):
            body = tokenizer(" " + text, add_special_tokens=False).input_ids
            rows.append((clip, [*ids.prompt(lang, task), *body, ids.eos]))
    gen = torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        batch = [rows[i] for i in torch.randint(len(rows), (16,), generator=gen).tolist()]
        width = max(len(seq) for _, seq in batch) - 1
        inputs = torch.full((len(batch), width), ids.eos)
        labels = torch.full((len(batch), width), -100)
        for r, (_, seq) in enumerate(batch):
            inputs[r, : len(seq) - 1] = torch.tensor(seq[:-1])
            labels[r, 3 : len(seq) - 1] = torch.tensor(seq[4:])
        logits = model(input_features=feats[[c for c, _ in batch]], decoder_input_ids=inputs).logits
        loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()


@pytest.fixture(scope="session")
def tokenizer():
    """Whisper's BPE restricted to the fixture's words: the same token strings, a ~2k output layer that trains
    7x faster than the full 51,865 (measured here: 4.4 s against 31 s for 200 steps)."""
    from lors_search.whisper.tokenizer import restricted_tokenizer

    words = [word for vocabulary in (*WORDS.values(), ENGLISH) for word in vocabulary]
    return restricted_tokenizer([" " + word for word in words])


@pytest.fixture(scope="session")
def bench(tmp_path_factory: pytest.TempPathFactory, tokenizer) -> TinyBench:
    from lors_search.whisper.model import ModelShape, build_processor, new_model

    root = tmp_path_factory.mktemp("tiny-bench")
    data_dir = write_corpus(root / "data")
    shape = ModelShape(d_model=64, encoder_layers=2, decoder_layers=2, attention_heads=2, ffn_dim=128,
                       window_seconds=WINDOW_SECONDS, max_target_positions=24)
    torch.manual_seed(0)
    model = new_model(shape, tokenizer, seed=0)
    _train(model, tokenizer, data_dir)
    model_dir = root / "model"
    model.save_pretrained(model_dir)
    build_processor(tokenizer, WINDOW_SECONDS).save_pretrained(model_dir)
    return TinyBench(data_dir=data_dir, model_dir=model_dir)


@pytest.fixture(scope="session")
def model(bench: TinyBench):
    from transformers import WhisperForConditionalGeneration

    return WhisperForConditionalGeneration.from_pretrained(bench.model_dir).eval()


@pytest.fixture(scope="session")
def dev(bench: TinyBench):
    from lors_search.evaluation.evalset import load_eval_set

    return load_eval_set(bench.data_dir, "dev", window_seconds=WINDOW_SECONDS)
