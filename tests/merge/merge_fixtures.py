"""Builders for the merge tests: a tiny Whisper config, real checkpoints written with save_pretrained,
a tiny real processor, and fine-tuned-looking experts (low-rank structure plus noise)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from transformers import (
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperProcessor,
    WhisperTokenizer,
)

from lors_search.checkpoints import hf_to_openai_name

TINY = dict(
    vocab_size=40,
    num_mel_bins=8,
    d_model=32,
    encoder_layers=2,
    decoder_layers=2,
    encoder_attention_heads=2,
    decoder_attention_heads=2,
    encoder_ffn_dim=64,
    decoder_ffn_dim=64,
    max_source_positions=16,
    max_target_positions=16,
    decoder_start_token_id=28,
    pad_token_id=27,
    bos_token_id=27,
    eos_token_id=27,
)
LANG_TO_ID = {"<|de|>": 29, "<|es|>": 30}
TASK_TO_ID = {"transcribe": 31, "translate": 32}
EXPERT_NAMES = ("de", "es", "fr")


def tiny_config(**changes: object) -> WhisperConfig:
    return WhisperConfig(**{**TINY, **changes})


def save_model(directory: Path, state: dict[str, Tensor], config: WhisperConfig) -> Path:
    """Write `state` as a real HF checkpoint through WhisperForConditionalGeneration.save_pretrained."""
    model = WhisperForConditionalGeneration(config)
    model.load_state_dict(state, strict=False)
    model.generation_config.lang_to_id = dict(LANG_TO_ID)
    model.generation_config.task_to_id = dict(TASK_TO_ID)
    model.generation_config.is_multilingual = True
    model.generation_config._from_model_config = False
    model.save_pretrained(directory)
    return directory


def write_processor(directory: Path) -> None:
    """A real (tiny) Whisper processor: character vocabulary, 8-mel feature extractor."""
    vocab = {c: i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz ")}
    vocab["<|endoftext|>"] = len(vocab)
    scratch = directory / ".vocab"
    scratch.mkdir()
    (scratch / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (scratch / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = WhisperTokenizer(str(scratch / "vocab.json"), str(scratch / "merges.txt"))
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=8), tokenizer=tokenizer).save_pretrained(
        directory
    )
    for file in scratch.iterdir():
        file.unlink()
    scratch.rmdir()


def perturb(state: dict[str, Tensor], seed: int) -> dict[str, Tensor]:
    """A fine-tuned-looking expert: low-rank structure plus noise on matrices, noise elsewhere; the
    encoder's frozen sinusoid untouched."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for name, tensor in state.items():
        if name == "model.encoder.embed_positions.weight":
            out[name] = tensor.clone()
            continue
        noise = 0.01 * torch.randn(tensor.shape, generator=generator)
        if tensor.ndim == 2:
            rows, cols = tensor.shape
            left = torch.randn(rows, 3, generator=generator)
            right = torch.randn(3, cols, generator=generator)
            noise = noise + 0.02 * left @ right
        out[name] = tensor + noise
    return out


def openai_dims(config: WhisperConfig) -> dict[str, int]:
    return {
        "n_mels": config.num_mel_bins,
        "n_vocab": config.vocab_size,
        "n_audio_ctx": config.max_source_positions,
        "n_audio_state": config.d_model,
        "n_audio_head": config.encoder_attention_heads,
        "n_audio_layer": config.encoder_layers,
        "n_text_ctx": config.max_target_positions,
        "n_text_state": config.d_model,
        "n_text_head": config.decoder_attention_heads,
        "n_text_layer": config.decoder_layers,
    }


def write_openai(path: Path, state: dict[str, Tensor], config: WhisperConfig) -> Path:
    """An openai-whisper style `.pt` checkpoint (fp16, openai names, dims) of an HF state dict."""
    mapped = {hf_to_openai_name(name): tensor.half() for name, tensor in state.items()}
    assert None not in mapped
    torch.save({"dims": openai_dims(config), "model_state_dict": mapped}, path)
    return path


def random_grams(state: dict[str, Tensor], seed: int, rules=None) -> dict[str, Tensor]:
    """Random symmetric positive definite mean Grams (in, in) for every eligible matrix of `state`, as RegMean's
    prepared inputs (A A^T / n plus a small diagonal: full rank, off-diagonal entries of either sign)."""
    from lors_search.merging.rules import DEFAULT_RULES, assign_treatments

    generator = torch.Generator().manual_seed(seed)
    out = {}
    for name, treatment in assign_treatments(state, rules or DEFAULT_RULES).items():
        if treatment != "lowrank_sparse":
            continue
        cols = state[name].shape[1]
        factor = torch.randn(cols, 2 * cols, generator=generator, dtype=torch.float64)
        out[name] = (factor @ factor.T / (2 * cols) + 0.1 * torch.eye(cols, dtype=torch.float64)).float()
    return out


@dataclass(frozen=True)
class RegMeanBench:
    """A real eSpeak NG corpus (train/dev/test) and real Whisper checkpoints with tokenizer files, for the
    tests of RegMean's Grams through the CLI, export and search paths."""

    data: Path
    base: Path
    experts: dict[str, Path]


REGMEAN_LANGUAGES = ("de", "es")


def build_regmean_bench(root: Path) -> RegMeanBench:
    """A two-language corpus (8 train, 2 dev, 2 test clips each), an untrained tiny Whisper base with its
    processor, and two experts around it (base plus scaled noise, saved with the base's tokenizer files).
    Untrained weights are real weights here: Grams need only real inputs flowing through a real model."""
    import datasets
    from tiny_bench_kit import WINDOW_SECONDS, corpus_spec, one_thread, tiny_shape

    from lors_search.speech.corpus import build_corpus
    from lors_search.whisper.model import build_processor, new_model
    from lors_search.whisper.tokenizer import restricted_tokenizer

    with one_thread():
        data = build_corpus(corpus_spec(REGMEAN_LANGUAGES, {"train": 8, "dev": 2, "test": 2}), root / "data",
                            workers=1, progress=False)
    corpus = datasets.load_from_disk(str(data))
    tokenizer = restricted_tokenizer([" " + t for s in corpus.values() for t in (*s["transcript"], *s["translation"])])
    processor = build_processor(tokenizer, WINDOW_SECONDS)
    model = new_model(tiny_shape(), tokenizer, seed=0)
    model.generation_config._from_model_config = False
    base_state = {k: v.clone() for k, v in model.state_dict().items()}

    def save(directory: Path) -> Path:
        model.save_pretrained(directory)
        processor.save_pretrained(directory)
        return directory

    base = save(root / "base")
    experts = {}
    for seed, language in enumerate(REGMEAN_LANGUAGES, start=1):
        generator = torch.Generator().manual_seed(seed)
        model.load_state_dict({k: v + 0.05 * torch.randn(v.shape, generator=generator) if v.is_floating_point() else v
                               for k, v in base_state.items()})
        experts[language] = save(root / "experts" / language)
    return RegMeanBench(Path(data), base, experts)
