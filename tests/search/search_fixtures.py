"""A tiny benchmark for the search tests (used when the demo helper's quick demo is not available): an
eSpeak NG corpus of short numbers in two languages, a tiny Whisper base trained on it for a few seconds and
one expert per language fine-tuned from the base, laid out like a demo directory (base/, experts/<lang>/,
data/). A uniquely named module so test files can import it beside other folders' fixtures."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

LANGUAGES = ("de", "es")
WINDOW_SECONDS = 2
_FORMS = {"cardinal": {"range": [0, 99], "weight": 2}, "clock": {}}
CORPUS_SPEC = {
    "languages": list(LANGUAGES),
    "domains": {"clean": {"variants": ["", "m1", "f2"], "rate": [160, 200], "pitch": [30, 70]}},
    "subsets": [
        {"split": split, "tag": "base", "domain": "clean", "clips_per_language": count, "forms": _FORMS}
        for split, count in {"train": 40, "dev": 12, "test": 4}.items()
    ],
    "holdout": {"dev": 0.3, "test": 0.2},
    "seed": 3,
    "window_seconds": WINDOW_SECONDS,
}


def build_tiny_bench(root: Path) -> Path:
    """Build (once; reused when `root/done` exists) and return `root`."""
    import datasets

    from lors_search.speech.corpus import build_corpus
    from lors_search.speech.features import load_features
    from lors_search.training.trainer import Clips, TrainConfig, train
    from lors_search.whisper.model import ModelShape, build_processor, new_model
    from lors_search.whisper.tokenizer import restricted_tokenizer

    root = Path(root)
    if (root / "done").exists():
        return root
    torch.set_num_threads(1)
    data_dir = build_corpus(CORPUS_SPEC, root / "data", workers=1, progress=False, force=True)
    corpus = datasets.load_from_disk(str(data_dir))
    texts = [" " + text for split in corpus.values() for text in (*split["transcript"], *split["translation"])]
    tokenizer = restricted_tokenizer(texts)
    train_split = corpus["train"]
    features = np.asarray(load_features(data_dir, "train", WINDOW_SECONDS))
    languages = list(train_split["language"])

    def clips(keep: list[int]) -> Clips:
        return Clips(
            features=features[keep],
            languages=[languages[i] for i in keep],
            transcripts=[train_split["transcript"][i] for i in keep],
            translations=[train_split["translation"][i] for i in keep],
        )

    shape = ModelShape(d_model=64, encoder_layers=2, decoder_layers=2, attention_heads=2, ffn_dim=128,
                       window_seconds=WINDOW_SECONDS, max_target_positions=24)
    processor = build_processor(tokenizer, WINDOW_SECONDS)

    def save(model, directory: Path) -> None:
        model.generation_config._from_model_config = False
        model.save_pretrained(directory)
        processor.save_pretrained(directory)

    model = new_model(shape, tokenizer, seed=0)
    train(model, tokenizer, clips(list(range(len(languages)))), TrainConfig(steps=150, lr=3e-3, seed=0))
    model.eval()
    save(model, root / "base")
    base_state = {k: v.clone() for k, v in model.state_dict().items()}
    for language in LANGUAGES:
        model.load_state_dict(base_state)
        keep = [i for i, code in enumerate(languages) if code == language]
        train(model, tokenizer, clips(keep), TrainConfig(steps=40, lr=1e-3, seed=1))
        model.eval()
        save(model, root / "experts" / language)
    (root / "done").write_text("ok\n")
    return root


def space_dict(bench: Path, **overrides: Any) -> dict[str, Any]:
    """A small space over the tiny bench: whole-stack groups, 2 rungs, 4 trials."""
    raw: dict[str, Any] = {
        "name": "tiny",
        "base": str(bench / "base"),
        "experts": [
            {"name": "de", "path": str(bench / "experts" / "de"), "language": "de"},
            {"name": "es", "path": str(bench / "experts" / "es"), "language": "es"},
        ],
        "data": {"path": str(bench / "data"), "split": "dev", "batch_size": 16},
        "method": "lors",
        "groups": {"encoder": {"size": "all"}, "decoder": {"size": "all"}, "modules": "shared"},
        "rank_ratio": {"low": 0.01, "high": 1.0, "log": True},
        "density": {"low": 0.05, "high": 1.0, "log": True},
        "scale": {"low": 0.1, "high": 1.0, "log": True},
        "seeds": ["paper_defaults", "task_arithmetic"],
        "budget": {"num_samples": 4, "max_failures": 2},
        "fidelity": {"n_per_language": [3, None], "reduction_factor": 2},
        "searcher": {"algorithm": "tpe", "seed": 0, "n_startup_trials": 3},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return raw


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0", TUNE_GLOBAL_CHECKPOINT_S="2")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(HERE), env.get("PYTHONPATH", "")])
    return env


if __name__ == "__main__":
    import sys
    import time

    start = time.perf_counter()
    print(build_tiny_bench(Path(sys.argv[1])), f"{time.perf_counter() - start:.1f} s")
