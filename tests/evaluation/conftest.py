"""Fixtures for the evaluation tests: a tiny corpus built by `lors_search.speech` (eSpeak NG speech, cached
Whisper log-mels) and a tiny Whisper trained on it for a few seconds, so that decoding stops at varied lengths,
both written to disk once per session."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eval_fixtures import CORPUS_SPEC, WINDOW_SECONDS
# one_torch_thread: the autouse one-thread fixture shared with tests/export and tests/report (imported here so
# pytest registers it for this folder).
from tiny_bench_kit import one_thread, one_torch_thread, tiny_shape  # noqa: F401


@dataclass(frozen=True)
class TinyBench:
    data_dir: Path
    model_dir: Path


def _train(model, tokenizer, data_dir: Path, steps: int = 200) -> None:
    """A few steps of teacher-forced training on both tasks, enough to make outputs end at varied lengths."""
    import datasets

    from lors_search.evaluation.decoding import PromptIds
    from lors_search.speech.features import load_features

    train = datasets.load_from_disk(str(data_dir))["train"]
    feats = torch.from_numpy(np.array(load_features(data_dir, "train", WINDOW_SECONDS), dtype=np.float32))
    ids = PromptIds.from_model(model)
    rows = []
    for clip, (lang, tr, en) in enumerate(zip(train["language"], train["transcript"], train["translation"], strict=True)):
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
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lors_search.speech.corpus import build_corpus

    return build_corpus(CORPUS_SPEC, tmp_path_factory.mktemp("tiny-bench") / "data", workers=1, progress=False)


@pytest.fixture(scope="session")
def tokenizer(corpus_dir: Path):
    """Whisper's BPE restricted to the corpus's texts: the same token strings, a ~2k output layer that trains
    7x faster than the full 51,865 (measured here: 4.4 s against 31 s for 200 steps)."""
    import datasets

    from lors_search.whisper.tokenizer import restricted_tokenizer

    corpus = datasets.load_from_disk(str(corpus_dir))
    texts = [" " + text for split in corpus.values() for text in (*split["transcript"], *split["translation"])]
    return restricted_tokenizer(texts)


@pytest.fixture(scope="session")
def bench(corpus_dir: Path, tokenizer) -> TinyBench:
    from lors_search.whisper.model import build_processor, new_model

    root = corpus_dir.parent
    data_dir = corpus_dir
    torch.manual_seed(0)
    model = new_model(tiny_shape(), tokenizer, seed=0)
    with one_thread():
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
