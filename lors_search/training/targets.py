"""Decoder sequences in Whisper's prompt format for training: <|startoftranscript|><|lang|><|task|>
<|notimestamps|> text <|endoftext|>, with the loss masked on the prompt the model is given at inference."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import WhisperTokenizer

PROMPT_LENGTH = 4
IGNORE = -100


def prompt_ids(tokenizer: WhisperTokenizer, language: str, task: str) -> list[int]:
    ids = tokenizer.convert_tokens_to_ids
    return [ids("<|startoftranscript|>"), ids(f"<|{language}|>"), ids(f"<|{task}|>"), ids("<|notimestamps|>")]


def target_sequences(
    tokenizer: WhisperTokenizer, languages: Sequence[str], texts: Sequence[str], task: str
) -> list[list[int]]:
    """Full token sequences (prompt, text, end of text) for each (language, text)."""
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    bodies = tokenizer(list(texts), add_special_tokens=False).input_ids
    return [prompt_ids(tokenizer, lang, task) + body + [eot] for lang, body in zip(languages, bodies, strict=True)]


def collate(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forcing inputs and labels: inputs = seq[:-1], labels = seq[1:], the prompt's own
    continuation (language, task, no-timestamps tokens) and the padding excluded from the loss."""
    width = max(len(s) for s in sequences) - 1
    inputs = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    labels = torch.full((len(sequences), width), IGNORE, dtype=torch.long)
    for row, seq in enumerate(sequences):
        n = len(seq) - 1
        inputs[row, :n] = torch.tensor(seq[:-1])
        labels[row, :n] = torch.tensor(seq[1:])
        labels[row, : PROMPT_LENGTH - 1] = IGNORE
    return inputs, labels
