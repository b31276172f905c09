"""Whisper's real multilingual tokenizer (51,865 tokens), rebuilt offline from its BPE ranks.

The byte-level BPE of `multilingual.tiktoken` is turned into a vocabulary and merge list (each merged token
is split at the pair of ranked parts that BPE would have merged), then Whisper's special tokens are
appended in openai-whisper's order: <|endoftext|>, <|startoftranscript|>, 99 language tokens, <|translate|>,
<|transcribe|>, <|startoflm|>, <|startofprev|>, <|nospeech|>, <|notimestamps|>, 1,501 timestamps.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from tokenizers import AddedToken
from transformers import WhisperTokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode
from transformers.models.whisper.tokenization_whisper import LANGUAGES

from lors_search.whisper.assets import cache_dir, multilingual_ranks_path

# The 99 languages of the original multilingual vocabulary; "yue" arrived with large-v3 (51,866 tokens).
WHISPER_LANGUAGES: tuple[str, ...] = tuple(code for code in LANGUAGES if code != "yue")
VOCAB_SIZE = 51865  # the full multilingual vocabulary
TIMESTAMP_COUNT = 1501


def special_tokens() -> list[str]:
    return [
        "<|endoftext|>",
        "<|startoftranscript|>",
        *[f"<|{code}|>" for code in WHISPER_LANGUAGES],
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nospeech|>",
        "<|notimestamps|>",
    ]


@functools.lru_cache(maxsize=1)
def load_tokenizer() -> WhisperTokenizer:
    """The multilingual Whisper tokenizer; built once per machine, then read from the cache."""
    saved = cache_dir() / "whisper-tokenizer"
    if (saved / "tokenizer_config.json").exists():
        return WhisperTokenizer.from_pretrained(saved)
    tokenizer = build_tokenizer(multilingual_ranks_path())
    # Save under a private name, then rename: a concurrent or interrupted build never leaves a partial cache.
    saved.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=saved.parent) as tmp:
        tokenizer.save_pretrained(tmp)
        with contextlib.suppress(OSError):  # another process won the race: its copy is identical
            os.replace(tmp, saved)
    return tokenizer


def build_tokenizer(ranks_file: Path) -> WhisperTokenizer:
    return tokenizer_from_ranks(_read_ranks(ranks_file))


def restricted_tokenizer(texts: Iterable[str]) -> WhisperTokenizer:
    """Whisper's BPE cut down to the tokens that `texts` need, with every special token kept.

    Why: on a small model the 51,865-way output layer dominates training time (measured 2.4-2.8x slower
    than a ~3k vocabulary at d_model 128-192, see docs/benchmark.md). The kept ranks are closed under
    BPE's merge tree (each kept token keeps every pair of ranked parts it splits into), so BPE over the
    kept merges takes the same steps as the full tokenizer: every text in `texts` gets exactly the same
    token strings as with `load_tokenizer()`; only the ids are renumbered.
    """
    full = _read_ranks(multilingual_ranks_path())
    char_to_byte = {c: b for b, c in bytes_to_unicode().items()}
    reference = load_tokenizer()
    needed: set[bytes] = {bytes([b]) for b in range(256)}
    for text in texts:
        for piece in reference.convert_ids_to_tokens(reference(text, add_special_tokens=False).input_ids):
            needed.add(bytes(char_to_byte[c] for c in piece))
    stack = list(needed)
    while stack:
        token = stack.pop()
        for i in range(1, len(token)):
            for part in (token[:i], token[i:]):
                if token[:i] in full and token[i:] in full and part not in needed:
                    needed.add(part)
                    stack.append(part)
    kept = sorted(needed, key=full.__getitem__)
    return tokenizer_from_ranks({token: i for i, token in enumerate(kept)})


def tokenizer_from_ranks(ranks: dict[bytes, int]) -> WhisperTokenizer:
    """A WhisperTokenizer from byte-level BPE ranks (ranks must be 0..n-1), specials appended."""
    byte_to_char = bytes_to_unicode()

    def spell(token: bytes) -> str:
        return "".join(byte_to_char[b] for b in token)

    vocab = {spell(token): rank for token, rank in ranks.items()}
    merges: list[tuple[int, str, str]] = []
    for token, rank in ranks.items():
        if len(token) < 2:
            continue
        # BPE produced `token` by merging the split whose parts have the lowest ranks.
        splits = [(token[:i], token[i:]) for i in range(1, len(token)) if token[:i] in ranks and token[i:] in ranks]
        for left, right in sorted(splits, key=lambda pair: (ranks[pair[0]], ranks[pair[1]])):
            merges.append((rank, spell(left), spell(right)))
    merges.sort(key=lambda item: item[0])
    specials = special_tokens()
    timestamps = [f"<|{i * 0.02:.2f}|>" for i in range(TIMESTAMP_COUNT)]
    for token in [*specials, *timestamps]:
        vocab[token] = len(vocab)
    tokenizer = WhisperTokenizer(vocab=vocab, merges=[(a, b) for _, a, b in merges])
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [AddedToken(t, special=True, normalized=False) for t in specials]}
    )
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in timestamps])
    expected = len(ranks) + len(specials) + len(timestamps)
    if len(tokenizer) != expected:
        raise RuntimeError(f"rebuilt Whisper tokenizer has {len(tokenizer)} tokens, expected {expected}")
    return tokenizer


def _read_ranks(path: Path) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks
