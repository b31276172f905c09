"""The tiny benchmark pieces that several test folders used to copy (tests/evaluation, tests/export,
tests/report, tests/search): the eSpeak NG corpus spec, the tiny Whisper shape, a base plus one expert per
language trained for a few seconds, and the one-torch-thread fixture.

Importable as `tiny_bench_kit` from every test folder the same way each folder imports its own *_fixtures
module: pytest's default "prepend" import mode puts tests/ on sys.path when it loads tests/conftest.py. The
name is unique so it collides with no folder's conftest or fixture (tests/search has a `tiny_bench` fixture)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import torch

if TYPE_CHECKING:
    from lors_search.whisper.model import ModelShape

WINDOW_SECONDS = 2


def corpus_spec(languages: Sequence[str], clips_per_language: Mapping[str, int]) -> dict[str, Any]:
    """A tiny `lors_search.speech` corpus spec: real eSpeak NG speech of short numbers and times, one "base"
    subset per split; the folders differ only in languages and clips per split."""
    forms = {"cardinal": {"range": [0, 99], "weight": 2}, "clock": {}}
    return {
        "languages": list(languages),
        "domains": {"clean": {"variants": ["", "m1", "f2"], "rate": [160, 200], "pitch": [30, 70]}},
        "subsets": [
            {"split": split, "tag": "base", "domain": "clean", "clips_per_language": count, "forms": forms}
            for split, count in clips_per_language.items()
        ],
        "holdout": {"dev": 0.3, "test": 0.2},
        "seed": 3,
        "window_seconds": WINDOW_SECONDS,
    }


def tiny_shape() -> ModelShape:
    """The tiny Whisper every fixture trains (imported lazily, as the fixtures import lors_search, so that
    collecting stays cheap)."""
    from lors_search.whisper.model import ModelShape

    return ModelShape(d_model=64, encoder_layers=2, decoder_layers=2, attention_heads=2, ffn_dim=128,
                      window_seconds=WINDOW_SECONDS, max_target_positions=24)


def lors_ranges() -> dict[str, Any]:
    """The LoRS search ranges and seed trials of the test spaces over this bench (tests/export and
    tests/search); fresh dicts each call, since tests edit the space they get."""
    return {
        "rank_ratio": {"low": 0.01, "high": 1.0, "log": True},
        "density": {"low": 0.05, "high": 1.0, "log": True},
        "scale": {"low": 0.1, "high": 1.0, "log": True},
        "seeds": ["paper_defaults", "task_arithmetic"],
    }


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """One intra-op thread: models this small gain little from a second one, and on a 2-core machine shared
    with other jobs two threads were 4-6x slower than one (measured: 50 training steps of the evaluation
    fixture model, 23-24 s with 2 threads against 3.9-5.7 s with 1)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """`one_thread` for each test module of a folder whose conftest imports this fixture; session fixtures
    are set up before it and use `one_thread` themselves."""
    with one_thread():
        yield


def build_bench(root: Path, spec: Mapping[str, Any], *, multitask: bool = False) -> Path:
    """base/, experts/<lang>/ (fine-tuned from base on that language's clips), data/ under `root`, laid out
    like a demo directory; with `multitask`, also multitask/ (the base trained longer: a stand-in compare
    model). Built once: reused when `root/done` exists."""
    import datasets

    from lors_search.speech.corpus import build_corpus
    from lors_search.speech.features import load_features
    from lors_search.training.trainer import Clips, TrainConfig, train
    from lors_search.whisper.model import build_processor, new_model
    from lors_search.whisper.tokenizer import restricted_tokenizer

    root = Path(root)
    if (root / "done").exists():
        return root
    with one_thread():
        data_dir = build_corpus(spec, root / "data", workers=1, progress=False, force=True)
        corpus = datasets.load_from_disk(str(data_dir))
        texts = [" " + t for split in corpus.values() for t in (*split["transcript"], *split["translation"])]
        tokenizer = restricted_tokenizer(texts)
        train_split = corpus["train"]
        features = np.asarray(load_features(data_dir, "train", WINDOW_SECONDS))
        # Each column read once: indexing train_split["transcript"] per clip re-reads the whole column.
        languages = list(train_split["language"])
        transcripts, translations = list(train_split["transcript"]), list(train_split["translation"])

        def clips(keep: Sequence[int]) -> Clips:
            return Clips(
                features=features[list(keep)],
                languages=[languages[i] for i in keep],
                transcripts=[transcripts[i] for i in keep],
                translations=[translations[i] for i in keep],
            )

        processor = build_processor(tokenizer, WINDOW_SECONDS)

        def save(model: Any, directory: Path) -> None:
            model.generation_config._from_model_config = False
            model.save_pretrained(directory)
            processor.save_pretrained(directory)

        model = new_model(tiny_shape(), tokenizer, seed=0)
        train(model, tokenizer, clips(range(len(languages))), TrainConfig(steps=150, lr=3e-3, seed=0))
        model.eval()
        save(model, root / "base")
        base_state = {k: v.clone() for k, v in model.state_dict().items()}
        for language in spec["languages"]:
            model.load_state_dict(base_state)
            keep = [i for i, code in enumerate(languages) if code == language]
            train(model, tokenizer, clips(keep), TrainConfig(steps=40, lr=1e-3, seed=1))
            model.eval()
            save(model, root / "experts" / language)
        if multitask:
            model.load_state_dict(base_state)
            train(model, tokenizer, clips(range(len(languages))), TrainConfig(steps=30, lr=1e-3, seed=2))
            model.eval()
            save(model, root / "multitask")
        (root / "done").write_text("ok\n")
    return root
