"""A narrow filter for one transformers warning that no caller can avoid.

transformers 5.24's `WhisperForConditionalGeneration.generate` hands its own `generation_config` to
`GenerationMixin.generate` together with `suppress_tokens` and `begin_suppress_tokens` (its workaround for
speculative decoding, huggingface/transformers PR 48108), and `GenerationMixin` then logs, once per process,
"Passing `generation_config` together with generation-related arguments=({...}) is deprecated". It does so for a
bare `model.generate(input_features)` and for every `pipeline("automatic-speech-recognition")` call, whatever the
arguments or the generation config (tests/evaluation/test_eval_generate_warning.py reproduces it); lors-search's
own decoding (`evaluation/decoding.py`) never calls `generate`. `quiet_whisper_generate_warning()` drops exactly
that record (arguments: those two only); every other warning, this one about other arguments included, stays.
"""

from __future__ import annotations

import logging

LOGGER = "transformers.generation.utils"
PREFIX = "Passing `generation_config` together with generation-related arguments=("
WHISPER_OWN = frozenset({"suppress_tokens", "begin_suppress_tokens"})


class _WhisperOwnArguments(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if not message.startswith(PREFIX):
            return True
        inside = message[len(PREFIX):].split(")", 1)[0].strip("{}")
        names = {part.strip().strip("'\"") for part in inside.split(",") if part.strip()}
        return not (names and names <= WHISPER_OWN)


_FILTER = _WhisperOwnArguments()


def quiet_whisper_generate_warning() -> None:
    """Install the filter on transformers' generation logger (idempotent)."""
    logger = logging.getLogger(LOGGER)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


def loud_whisper_generate_warning() -> None:
    """Remove the filter (tests)."""
    logging.getLogger(LOGGER).removeFilter(_FILTER)


__all__ = ["loud_whisper_generate_warning", "quiet_whisper_generate_warning"]
