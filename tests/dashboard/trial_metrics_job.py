"""A tiny Ray Job entrypoint: connects as `lors-search search` does, publishes every TrialMetrics series
and stays alive (its gauges age out once the driver exits) until the test has scraped them.

Usage: python trial_metrics_job.py RUN STOP_FILE [MAX_SECONDS]
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

from lors_search.runtime.local_ray import connect
from lors_search.runtime.metrics import TrialMetrics

CELLS = {
    "es/transcribe": {"wer": 0.125, "cer": 0.05, "n": 8},
    "es/translate": {"bleu": 41.5, "chrf": 60.0, "n": 8},
    "de/transcribe": {"wer": 0.25, "cer": 0.0625, "n": 8},
    "de/translate": {"bleu": 33.0, "chrf": 55.0, "n": 8},
}


def main() -> int:
    run, stop_file = sys.argv[1], Path(sys.argv[2])
    max_seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 90.0
    connection = connect(None, None)
    print("CONNECTION " + json.dumps(dataclasses.asdict(connection)), flush=True)
    metrics = TrialMetrics(run)
    metrics.trial_finished("COMPLETE", 0.75, CELLS, 0.3, 4.0)
    print(f"[{run}] trial 0 COMPLETE objective=0.7500 best=0.7500", flush=True)
    metrics.best(0.75)
    metrics.trial_finished("PRUNED", 0.5, {"es/transcribe": CELLS["es/transcribe"]}, 0.2, 1.0)
    print(f"[{run}] trial 1 PRUNED objective=0.5000 best=0.7500", flush=True)
    metrics.trial_finished("FAIL", None, None, None, None)
    print(f"[{run}] trial 2 FAIL", flush=True)
    deadline = time.monotonic() + max_seconds
    while not stop_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    connection.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
