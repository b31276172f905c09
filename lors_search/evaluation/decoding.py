"""Batched greedy decoding with a KV cache for any Hugging Face `WhisperForConditionalGeneration`.

It reproduces `model.generate(input_features, language=..., task=..., max_new_tokens=...)` greedy decoding
(Whisper's prompt <|startoftranscript|><|lang|><|task|><|notimestamps|>, the generation config's
`suppress_tokens` and `begin_suppress_tokens`, stop at `eos_token_id`) with less work per batch: the encoder
runs once per clip and its output is shared by that clip's rows (ASR and ST), every prompt has the same four
tokens so no padding is needed, logits are computed for the last position only, and finished rows leave the
batch (their cache entries are dropped) instead of being padded to the longest row.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration

from lors_search.errors import UserError

PROMPT_LENGTH = 4
FRAMES_PER_SECOND = 100  # Whisper's log-mel hop: 160 samples at 16 kHz


@dataclass(frozen=True)
class PromptIds:
    """The token ids that make up Whisper prompts and stop decoding, read from a generation config."""

    start: int
    no_timestamps: int
    eos: int
    languages: dict[str, int]
    tasks: dict[str, int]
    suppress: tuple[int, ...]
    begin_suppress: tuple[int, ...]

    @classmethod
    def from_model(cls, model: WhisperForConditionalGeneration) -> PromptIds:
        gen = model.generation_config
        missing = [
            name
            for name in ("lang_to_id", "task_to_id", "no_timestamps_token_id", "decoder_start_token_id")
            if getattr(gen, name, None) is None
        ]
        if missing:
            raise UserError(
                f"the model's generation config lacks {', '.join(missing)}: it is not a multilingual Whisper "
                "checkpoint with language and task tokens"
            )
        eos = gen.eos_token_id if gen.eos_token_id is not None else model.config.eos_token_id
        if isinstance(eos, list):  # a list of stop ids is legal in HF configs; Whisper has exactly one
            if len(eos) != 1:
                raise UserError(f"the model's generation config has {len(eos)} end-of-text ids, expected one")
            eos = eos[0]
        return cls(
            start=int(gen.decoder_start_token_id),
            no_timestamps=int(gen.no_timestamps_token_id),
            eos=int(eos),
            languages={token.strip("<|>"): int(i) for token, i in gen.lang_to_id.items()},
            tasks={task: int(i) for task, i in gen.task_to_id.items()},
            suppress=tuple(int(i) for i in (gen.suppress_tokens or ())),
            begin_suppress=tuple(int(i) for i in (gen.begin_suppress_tokens or ())),
        )

    def prompt(self, language: str, task: str) -> tuple[int, int, int, int]:
        if language not in self.languages:
            raise UserError(f"the model has no language token for {language!r}")
        if task not in self.tasks:
            raise UserError(f"the model has no task token for {task!r}")
        return (self.start, self.languages[language], self.tasks[task], self.no_timestamps)


def window_seconds(config: WhisperConfig) -> int:
    """The audio window (seconds) of a Whisper config: its encoder takes exactly 2 * max_source_positions
    mel frames (real Whisper: 3000 frames, 30 s; the benchmark's small models: 500, 5 s)."""
    frames = 2 * int(config.max_source_positions)
    if frames % FRAMES_PER_SECOND:
        raise UserError(f"the model expects {frames} mel frames, not a whole number of seconds")
    return frames // FRAMES_PER_SECOND


def autocast_context(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """bf16 autocast on CUDA where supported, else fp16; plain fp32 on CPU (reproducible, and CPU autocast
    is slower for models this small)."""
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast(device_type="cuda", dtype=dtype)
    return contextlib.nullcontext()


class GreedyDecoder:
    """Greedy decoding of batches of (clip, language, task) rows with one model resident on one device.

    The model is used as it is at each call, so weights merged in place between calls take effect.
    """

    def __init__(
        self,
        model: WhisperForConditionalGeneration,
        *,
        device: str | torch.device = "cpu",
        max_new_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.device = torch.device(device)
        self.ids = PromptIds.from_model(model)
        self.frames = 2 * int(model.config.max_source_positions)
        # generate() refuses prompt + new tokens beyond the learned positions; so do we.
        limit = int(model.config.max_target_positions) - PROMPT_LENGTH
        if max_new_tokens is None:
            max_new_tokens = limit
        if not 1 <= max_new_tokens <= limit:
            raise UserError(f"max_new_tokens must be between 1 and {limit} for this model, got {max_new_tokens}")
        self.max_new_tokens = max_new_tokens
        # Work counters since construction (benchmarks and tests read them).
        self.rows_decoded = 0
        self.encoder_clips = 0
        self.tokens_generated = 0  # end-of-text excluded

    def decode(
        self,
        features: np.ndarray | torch.Tensor,
        row_clips: Sequence[int],
        prompts: Sequence[Sequence[int]],
    ) -> list[list[int]]:
        """Generated token ids (prompt and end-of-text excluded) of each row.

        `features` [clips, mels, frames] holds the batch's clips once each; row r decodes clip `row_clips[r]`
        with prompt `prompts[r]`.
        """
        if len(row_clips) != len(prompts):
            raise ValueError(f"{len(row_clips)} row clips but {len(prompts)} prompts")
        if not len(row_clips):
            return []
        if features.shape[-1] != self.frames:
            raise UserError(
                f"features have {features.shape[-1]} frames but the model needs {self.frames} "
                f"({self.frames // FRAMES_PER_SECOND}-s window)"
            )
        model = self.model
        model.eval()
        with torch.inference_mode(), autocast_context(self.device):
            # Moved in the stored dtype (float16 halves a GPU transfer), converted on the device.
            inputs = (_tensor(features) if isinstance(features, np.ndarray) else features).to(self.device).float()
            encoded = model.model.encoder(inputs).last_hidden_state
            rows = torch.as_tensor(list(row_clips), dtype=torch.long, device=self.device)
            encoded = encoded.index_select(0, rows)
            tokens = torch.as_tensor([list(p) for p in prompts], dtype=torch.long, device=self.device)
            generated = list(self._greedy(encoded, tokens))
        self.rows_decoded += len(row_clips)
        self.encoder_clips += int(inputs.shape[0])
        self.tokens_generated += sum(len(tokens) for tokens in generated)
        return generated

    def _greedy(self, encoded: torch.Tensor, prompt: torch.Tensor) -> Iterator[list[int]]:
        model = self.model
        total = prompt.shape[0]
        out = torch.full((total, self.max_new_tokens), -1, dtype=torch.long, device=self.device)
        lengths = torch.full((total,), self.max_new_tokens, dtype=torch.long, device=self.device)
        active = torch.arange(total, device=self.device)
        suppress = torch.as_tensor(self.ids.suppress, dtype=torch.long, device=self.device)
        begin_suppress = torch.as_tensor(self.ids.begin_suppress, dtype=torch.long, device=self.device)
        step_input, cache = prompt, None
        for step in range(self.max_new_tokens):
            decoded = model.model.decoder(
                input_ids=step_input, encoder_hidden_states=encoded, cache=cache, use_cache=True
            )
            cache = decoded.cache
            logits = model.proj_out(decoded.last_hidden_state[:, -1]).float()
            if suppress.numel():
                logits.index_fill_(1, suppress, float("-inf"))
            if step == 0 and begin_suppress.numel():
                logits.index_fill_(1, begin_suppress, float("-inf"))
            chosen = logits.argmax(dim=-1)
            out[active, step] = chosen
            finished = chosen == self.ids.eos
            if bool(finished.any()):
                lengths[active[finished]] = step
                keep = (~finished).nonzero().squeeze(1)
                if keep.numel() == 0:
                    break
                # Finished rows leave the batch: later steps cost only what is still being decoded.
                active, chosen, encoded = active[keep], chosen[keep], encoded.index_select(0, keep)
                cache.batch_select_indices(keep)
            step_input = chosen.unsqueeze(1)
        for row, length in zip(out.tolist(), lengths.tolist(), strict=True):
            yield row[:length]


def _tensor(array: np.ndarray) -> torch.Tensor:
    """A tensor over `array`; read-only arrays (memory-mapped features) are copied, torch cannot wrap them."""
    array = np.ascontiguousarray(array)
    return torch.from_numpy(array if array.flags.writeable else array.copy())
