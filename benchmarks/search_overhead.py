"""Search overhead: the share of trial wall time not spent merging or evaluating (target <= 5 %).

Runs a real search (local Ray, the CLI's code path: expert and worker actors, Tune + FidelityOptunaSearch +
ASHA, the run-directory recorder) and splits time three ways from trials.parquet and the driver's clocks:

- in-trial overhead: per trial, 1 - (merge + eval seconds) / trial seconds, where trial seconds run from the
  trial function's start (lease, actor calls, scoring, reporting included) to its last report;
- worker-time overhead: 1 - sum(merge + eval) / (Tune fit wall time x workers): everything a worker was
  not merging or evaluating (Tune scheduling, trial start, callbacks, idle workers at the tail);
- setup (actors, factorisation, reference scoring) is reported apart: it is paid once per search;
- Tune's floor: the same number of trials and concurrency with a bare function trainable that sleeps the
  mean merge + eval time (OptunaSearch with the same define-by-run space, no actors): what Ray Tune itself
  costs per trial on this machine, which no trainable can go below;
- trials per minute: trials / Tune fit wall time (what a user sees).

To compare two versions of the package side by side, run this script twice at the same time with
PYTHONPATH pointing at each checkout (the machine's load then weighs on both alike), e.g.
`PYTHONPATH=../before python benchmarks/search_overhead.py ... & python benchmarks/search_overhead.py ...`.

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


def _sleep_trial(config: dict, seconds: float) -> None:
    import time

    from ray import tune

    time.sleep(seconds)
    tune.report({"objective": 0.0})


def tune_floor(space, trials: int, workers: int, seconds: float) -> dict[str, float]:
    """Ray Tune's own cost per trial: `trials` sleeps of `seconds`, `workers` at a time, same searcher."""
    import time

    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    searcher = OptunaSearch(space=space.sampler(), metric="objective", mode="max",
                            sampler=space.searcher.optuna_sampler())
    trainable = tune.with_resources(tune.with_parameters(_sleep_trial, seconds=seconds), {"cpu": 0.01})
    started = time.perf_counter()
    tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=trials, max_concurrent_trials=workers,
                                    reuse_actors=True),
        run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(prefix="lors-floor-"), name="floor", verbose=0),
    ).fit()
    wall = time.perf_counter() - started
    return {"overhead": 1.0 - trials * seconds / (wall * workers), "per_trial": (wall * workers - trials * seconds) / trials}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--space", default=str(REPO / "search_spaces" / "smoke.yaml"))
    parser.add_argument("--num-samples", type=int, default=20)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--runs-dir", default=None, help="where the run goes (default: a temporary directory)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--no-floor", action="store_true", help="skip the bare-Tune floor measurement")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")

    import pandas as pd
    import ray

    from lors_search.search.driver import check_run_dir, run_search
    from lors_search.demo.paths import space_places
    from lors_search.space import load_search_space

    space = load_search_space(args.space, places=space_places())
    runs = Path(args.runs_dir or tempfile.mkdtemp(prefix="lors-overhead-"))
    run_dir = check_run_dir(runs, f"overhead-{os.getpid()}", resume=False)
    ray.init(num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False,
             logging_level="WARNING")
    try:
        outcome = run_search(space, run_dir, num_samples=args.num_samples, workers=args.workers,
                             progress=lambda message: None)
        table = pd.read_parquet(run_dir.trials_parquet)
        work = table["merge_seconds"] + table["eval_seconds"]
        floor = None if args.no_floor else tune_floor(space, len(table), outcome.layout.workers, float(work.mean()))
    finally:
        ray.shutdown()
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
        "overhead_seconds_per_trial": round((fit * workers - float(work.sum())) / len(table), 4),
        "trials_per_minute": round(60.0 * len(table) / fit, 2),
        "run_dir": str(run_dir.root),
    }
    if floor is not None:
        result["tune_floor_worker_time_overhead"] = round(floor["overhead"], 4)
        result["tune_floor_seconds_per_trial"] = round(floor["per_trial"], 4)
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>26}: {value}")


if __name__ == "__main__":
    main()
