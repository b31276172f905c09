"""Seeded, step-counted fine-tuning of a Whisper model on (speech, transcript, translation) clips.

Each clip trains both tasks: the encoder runs once per clip and its output feeds the ASR and the ST decoder
rows, which nearly halves the cost of a step. Reproducible by seed on one device (fixed step counts, never
wall-clock budgets)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from transformers import WhisperForConditionalGeneration, WhisperTokenizer

from lors_search.training.targets import IGNORE, collate, target_sequences

TASKS = ("transcribe", "translate")


class TrainConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: int = Field(ge=1)
    batch_clips: int = Field(16, ge=1)
    lr: float = Field(gt=0)
    min_lr: float = Field(0.0, ge=0)
    warmup_steps: int = Field(0, ge=0)
    schedule: str = Field("cosine", pattern="^(cosine|constant)$")
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: float = Field(1.0, gt=0)
    seed: int = 0
    tasks: tuple[str, ...] = TASKS


@dataclass(frozen=True)
class Clips:
    """Training clips: log-mel features [N, mels, frames] (float16 is fine) and their texts."""

    features: np.ndarray
    languages: Sequence[str]
    transcripts: Sequence[str]
    translations: Sequence[str]

    def __len__(self) -> int:
        return len(self.languages)


@dataclass
class TrainStats:
    steps: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)

    @property
    def final_loss(self) -> float:
        tail = self.losses[-50:]
        return float(sum(tail) / max(1, len(tail)))


def learning_rate(config: TrainConfig, step: int) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    if config.schedule == "constant":
        return config.lr
    progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
    return config.min_lr + 0.5 * (config.lr - config.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def train(
    model: WhisperForConditionalGeneration,
    tokenizer: WhisperTokenizer,
    clips: Clips,
    config: TrainConfig,
    *,
    device: str | torch.device = "cpu",
    on_step: Callable[[int, float], None] | None = None,
) -> TrainStats:
    """Train `model` in place for `config.steps` steps on clips drawn uniformly (seeded)."""
    if len(clips) == 0:
        raise ValueError("no training clips")
    model.to(device).train()
    sequences = {
        "transcribe": target_sequences(tokenizer, clips.languages, clips.transcripts, "transcribe"),
        "translate": target_sequences(tokenizer, clips.languages, clips.translations, "translate"),
    }
    pad_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    stats = TrainStats()
    start = time.perf_counter()
    for step in range(config.steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(config, step)
        index = torch.randint(len(clips), (config.batch_clips,), generator=generator).numpy()
        features = torch.from_numpy(np.asarray(clips.features[np.sort(index)], dtype=np.float32)).to(device)
        rows = [sequences[task][i] for task in config.tasks for i in np.sort(index)]
        inputs, labels = collate(rows, pad_id)
        encoded = model.model.encoder(features).last_hidden_state
        encoded = encoded.repeat(len(config.tasks), 1, 1)
        logits = model(encoder_outputs=(encoded,), decoder_input_ids=inputs.to(device)).logits
        loss = F.cross_entropy(logits.flatten(0, 1), labels.to(device).flatten(), ignore_index=IGNORE)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, config.grad_clip)
        optimizer.step()
        stats.losses.append(loss.item())
        stats.steps = step + 1
        if on_step is not None:
            on_step(step, stats.losses[-1])
    stats.seconds = time.perf_counter() - start
    model.eval()
    return stats
