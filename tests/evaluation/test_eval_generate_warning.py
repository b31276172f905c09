"""The "Passing `generation_config` together with generation-related arguments" deprecation warning comes from
transformers' own Whisper `generate`, not from anything a caller passes: a bare `model.generate(features)`, with no
generation argument, logs it. `quiet_whisper_generate_warning` drops that record and nothing else."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from transformers.utils import logging as hf_logging

from lors_search.whisper.generate_warning import (
    LOGGER,
    loud_whisper_generate_warning,
    quiet_whisper_generate_warning,
)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _generate_and_collect(model, features) -> list[str]:
    logger = logging.getLogger(LOGGER)
    records = _Records()
    logger.addHandler(records)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_warning()  # whatever an earlier test set, process-wide
    hf_logging.warning_once.cache_clear()  # the warning is logged once per process: make this call the first
    try:
        with torch.inference_mode():
            model.generate(features)  # no generation argument at all
    finally:
        hf_logging.set_verbosity(verbosity)
        logger.removeHandler(records)
    return [m for m in records.messages if "together with generation-related arguments" in m]


@pytest.fixture
def logger_on() -> Iterator[None]:
    """transformers' generation logger switched on for the test. An earlier test in the same process may have
    switched it off: a logging.config.dictConfig call (Ray's logging set-up in an in-process ray.init, for one)
    disables every logger that exists by then, and logging.disable(...) or a level on the logger hides records too
    (this test failed so in the full suite of a fresh clone, though it passed alone)."""
    logger = logging.getLogger(LOGGER)
    disabled, level, floor = logger.disabled, logger.level, logging.root.manager.disable
    logger.disabled = False
    logger.setLevel(logging.NOTSET)
    logging.disable(logging.NOTSET)
    yield
    logger.disabled, logger.level = disabled, level
    logging.disable(floor)


@pytest.mark.usefixtures("logger_on")
def test_whisper_generate_warns_by_itself_and_the_filter_is_narrow(model, dev) -> None:
    features = torch.from_numpy(np.asarray(dev.features[:1], dtype=np.float32))
    loud_whisper_generate_warning()
    (message,) = _generate_and_collect(model, features)
    assert "'suppress_tokens'" in message and "'begin_suppress_tokens'" in message

    quiet_whisper_generate_warning()
    quiet_whisper_generate_warning()  # idempotent
    try:
        assert _generate_and_collect(model, features) == []
        # The same warning about an argument a caller did pass still gets through.
        logger = logging.getLogger(LOGGER)
        records = _Records()
        logger.addHandler(records)
        try:
            logger.warning("Passing `generation_config` together with generation-related arguments=({'max_new_tokens', "
                           "'suppress_tokens'}) is deprecated")
        finally:
            logger.removeHandler(records)
        assert len(records.messages) == 1
    finally:
        loud_whisper_generate_warning()
    assert logging.getLogger(LOGGER).filters == []
