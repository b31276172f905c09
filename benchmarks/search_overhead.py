"""Search overhead: the share of trial wall time not spent merging or evaluating (target <= 5 %).

Runs a real search (local Ray, the CLI's code path: expert and worker actors, Tune + FidelityOptunaSearch +
ASHA, the run-directory recorder) and splits time three ways from trials.parquet and the driver's clocks:

- in-trial overhead: per trial, 1 - (merge + eval seconds) / trial seconds, where trial seconds run from the
  trial function's start (lease, actor calls, scoring, reporting included) to its last report;
- worker-time overhead: 1 - sum(merge + eval) / (Tune fit wall time x workers): everything a worker was
  not merging or evaluating (Tune scheduling, trial start, callbacks, idle workers at the tail);
- setup (actors, factorisation, reference scoring) is reported apart: it is paid once per search.

    python benchmarks/search_overhead.py                          # smoke.yaml on the quick demo
    python benchmarks/search_overhead.py --space SPACE.yaml --num-samples 30 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default=str(REPO / "search_spaces" / "smoke.yaml"))
    parser.add_argument("--num-samples", type=int, default=20)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--runs-dir", default=None, help="where the run goes (default: a temporary directory)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")

    import pandas as pd
    import ray

    from lors_search.runtime.names import NAMESPACE
    from lors_search.search.driver import check_run_dir, run_search
    from lors_search.space import load_search_space

    space = load_search_space(args.space)
    runs = Path(args.runs_dir or tempfile.mkdtemp(prefix="lors-overhead-"))
    run_dir = check_run_dir(runs, f"overhead-{os.getpid()}", resume=False)
    ray.init(num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False, namespace=NAMESPACE,
             logging_level="WARNING")
    try:
        outcome = run_search(space, run_dir, num_samples=args.num_samples, workers=args.workers,
                             progress=lambda message: None)
    finally:
        ray.shutdown()
    table = pd.read_parquet(run_dir.trials_parquet)
    work = table["merge_seconds"] + table["eval_seconds"]
    in_trial = 1.0 - work / table["trial_seconds"]
    workers = outcome.layout.workers
    fit = outcome.extra["fit_seconds"]
    result = {
        "space": args.space,
        "trials": len(table),
        "states": table["state"].value_counts().to_dict(),
        "workers": workers,
        "setup_seconds": round(outcome.extra["setup_seconds"], 2),
        "fit_seconds": round(fit, 2),
        "merge_seconds_mean": round(float(table["merge_seconds"].mean()), 4),
        "eval_seconds_mean": round(float(table["eval_seconds"].mean()), 4),
        "trial_seconds_mean": round(float(table["trial_seconds"].mean()), 4),
        "in_trial_overhead_median": round(float(statistics.median(in_trial)), 4),
        "in_trial_overhead_total": round(float(1.0 - work.sum() / table["trial_seconds"].sum()), 4),
        "worker_time_overhead": round(float(1.0 - work.sum() / (fit * workers)), 4),
        "run_dir": str(run_dir.root),
    }
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>26}: {value}")


if __name__ == "__main__":
    main()
