"""The "Passing `generation_config` together with generation-related arguments" deprecation warning comes from
transformers' own Whisper `generate`, not from anything a caller passes: a bare `model.generate(features)`, with no
generation argument, logs it. `quiet_whisper_generate_warning` drops that record and nothing else.

The reproduction runs in a fresh interpreter: transformers logs the warning once per process, and earlier tests
of the suite change process-wide logging state (a `logging.config.dictConfig` in an in-process `ray.init` disables
the loggers that exist by then), so in the full suite of a fresh clone the in-process version saw no record
although it passed alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = r'''
import json, logging, sys
import numpy as np, torch
from transformers import WhisperForConditionalGeneration
from lors_search.whisper.generate_warning import LOGGER, loud_whisper_generate_warning, quiet_whisper_generate_warning

class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages = []
    def emit(self, record):
        self.messages.append(record.getMessage())

model = WhisperForConditionalGeneration.from_pretrained(sys.argv[1]).eval()
features = torch.from_numpy(np.load(sys.argv[2]))
logger = logging.getLogger(LOGGER)

def generate_and_collect():
    from transformers.utils import logging as hf_logging
    records = Records()
    logger.addHandler(records)
    hf_logging.warning_once.cache_clear()  # logged once per process: make this call the first
    try:
        with torch.inference_mode():
            model.generate(features)  # no generation argument at all
    finally:
        logger.removeHandler(records)
    return [m for m in records.messages if "together with generation-related arguments" in m]

out = {"loud": generate_and_collect()}
quiet_whisper_generate_warning()
quiet_whisper_generate_warning()  # idempotent
out["quiet"] = generate_and_collect()
records = Records()
logger.addHandler(records)
logger.warning("Passing `generation_config` together with generation-related arguments=({'max_new_tokens', "
               "'suppress_tokens'}) is deprecated")  # an argument a caller did pass: it gets through
logger.removeHandler(records)
out["other"] = records.messages
out["filters_while_quiet"] = len(logger.filters)
loud_whisper_generate_warning()
out["filters_after"] = len(logger.filters)
print(json.dumps(out))
'''


def test_whisper_generate_warns_by_itself_and_the_filter_is_narrow(model, dev, tmp_path: Path) -> None:
    model.save_pretrained(tmp_path / "model")
    np.save(tmp_path / "features.npy", np.asarray(dev.features[:1], dtype=np.float32))
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "model"), str(tmp_path / "features.npy")],
        capture_output=True, text=True, timeout=300, check=True,
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    (message,) = out["loud"]
    assert "'suppress_tokens'" in message and "'begin_suppress_tokens'" in message
    assert out["quiet"] == []
    assert len(out["other"]) == 1 and "'max_new_tokens'" in out["other"][0]
    assert out["filters_while_quiet"] == 1 and out["filters_after"] == 0
