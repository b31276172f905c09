"""Demo tests: one torch thread (the 2-core machine is shared); the quick build itself comes from the
session fixture `quick_demo_dir` in tests/conftest.py."""

from __future__ import annotations

import torch

torch.set_num_threads(1)
