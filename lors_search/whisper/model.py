"""Small Whisper models for the embedded benchmark: configuration, processor and generation settings that
make `generate(language=..., task=...)` and `pipeline("automatic-speech-recognition")` work offline.

Facts used (shared/notes): the encoder needs exactly 2 * max_source_positions mel frames, so a short window
of S seconds means `max_source_positions = 50 * S` and a feature extractor with `chunk_length = S`;
transformers 5 drops hand-set language ids on save unless `_from_model_config` is False.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field
from transformers import (
    GenerationConfig,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperProcessor,
    WhisperTokenizer,
)

from lors_search.whisper.tokenizer import WHISPER_LANGUAGES

SAMPLING_RATE = 16_000
MEL_BINS = 80


class ModelShape(BaseModel):
    """Size of a small Whisper; the defaults are the benchmark's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    d_model: int = Field(192, ge=16)
    encoder_layers: int = Field(3, ge=1)
    decoder_layers: int = Field(3, ge=1)
    attention_heads: int = Field(6, ge=1)
    ffn_dim: int = Field(768, ge=16)
    window_seconds: int = Field(5, ge=1, le=30)
    max_target_positions: int = Field(64, ge=8)


def whisper_config(shape: ModelShape, tokenizer: WhisperTokenizer) -> WhisperConfig:
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    sot = tokenizer.convert_tokens_to_ids("<|startoftranscript|>")
    return WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=MEL_BINS,
        d_model=shape.d_model,
        encoder_layers=shape.encoder_layers,
        decoder_layers=shape.decoder_layers,
        encoder_attention_heads=shape.attention_heads,
        decoder_attention_heads=shape.attention_heads,
        encoder_ffn_dim=shape.ffn_dim,
        decoder_ffn_dim=shape.ffn_dim,
        max_source_positions=50 * shape.window_seconds,
        max_target_positions=shape.max_target_positions,
        decoder_start_token_id=sot,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        dropout=0.0,
        attention_dropout=0.0,
        activation_dropout=0.0,
        suppress_tokens=[],
        begin_suppress_tokens=[],
        tie_word_embeddings=True,
    )


def generation_config(config: WhisperConfig, tokenizer: WhisperTokenizer) -> GenerationConfig:
    """Generation settings of a multilingual Whisper: language and task ids, no timestamps, greedy."""
    ids = tokenizer.convert_tokens_to_ids
    gen = GenerationConfig(
        decoder_start_token_id=config.decoder_start_token_id,
        eos_token_id=config.eos_token_id,
        pad_token_id=config.pad_token_id,
        bos_token_id=config.bos_token_id,
        max_length=config.max_target_positions,
        do_sample=False,
        num_beams=1,
        is_multilingual=True,
        lang_to_id={f"<|{code}|>": ids(f"<|{code}|>") for code in WHISPER_LANGUAGES},
        task_to_id={"transcribe": ids("<|transcribe|>"), "translate": ids("<|translate|>")},
        no_timestamps_token_id=ids("<|notimestamps|>"),
        prev_sot_token_id=ids("<|startofprev|>"),
        return_timestamps=False,
        suppress_tokens=[],
        begin_suppress_tokens=[],
    )
    gen._from_model_config = False  # else save_pretrained drops lang_to_id (transformers 5)
    return gen


def build_processor(tokenizer: WhisperTokenizer, window_seconds: int) -> WhisperProcessor:
    extractor = WhisperFeatureExtractor(
        feature_size=MEL_BINS, sampling_rate=SAMPLING_RATE, chunk_length=window_seconds
    )
    return WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer)


def new_model(shape: ModelShape, tokenizer: WhisperTokenizer, seed: int) -> WhisperForConditionalGeneration:
    """A randomly initialised Whisper of the given shape, seeded, ready to train."""
    import torch

    config = whisper_config(shape, tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = WhisperForConditionalGeneration(config)
    model.generation_config = generation_config(config, tokenizer)
    return model
