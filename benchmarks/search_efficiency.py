"""Search efficiency, two questions:

1. samplers: trials needed to reach 99 % (also 95 %, 97 %) of the best objective, TPE against random search,
   median over seeds (target: TPE needs at most half). In-process (no Ray): one resident worker (the same WorkerActor code the
   search runs) merges and scores every suggestion on one fixed dev subset; Optuna ask/tell drives it. The
   space's seed points are NOT enqueued, so this compares the samplers alone. "Best" is the best objective any
   run found; a run that never reaches 99 % of it counts as budget + 1 (censored).
2. asha: decoded dev utterances with ASHA against full fidelity for the same final objective (target: at most
   half). Two real searches (local Ray, one worker so trials run in order) with the same sampler seed and
   budget: the space's rungs vs its last rung only. Reports, per search, the rows decoded in trials (in the
   order they finished) until the first full-fidelity trial reaching 99 % of the lower of the two final
   bests, and overall. Reference scoring at the start (the same for both) is not counted.

    python benchmarks/search_efficiency.py samplers --trials 30 --seeds 0 1 2 --n-per-language 8
    python benchmarks/search_efficiency.py asha --num-samples 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent


def trials_to_reach(values: list[float], target: float, mode: str) -> int:
    """1-based index of the first trial whose best-so-far reaches `target` (len + 1 when never)."""
    best = None
    for index, value in enumerate(values, start=1):
        best = value if best is None else (max(best, value) if mode == "max" else min(best, value))
        if (mode == "max" and best >= target) or (mode == "min" and best <= target):
            return index
    return len(values) + 1


def target_of(best: float, mode: str, share: float = 0.99) -> float:
    """The value that is `share` of `best` (99 % of a maximum, or within 1/0.99 of a minimum)."""
    if mode == "max":
        return share * best if best >= 0 else best / share
    return best / share if best >= 0 else share * best


def samplers(args: argparse.Namespace) -> dict[str, Any]:
    import optuna
    import torch

    from lors_search.runtime.local import local_worker
    from lors_search.runtime.spec import spec_from_space
    from lors_search.demo.paths import space_places
    from lors_search.space import load_search_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = load_search_space(args.space, places=space_places())
    name, mode = space.objective_names()[0], space.objective_modes()[0]
    torch.set_num_threads(args.threads)
    worker = local_worker(spec_from_space(space), threads=args.threads)
    n = args.n_per_language or worker.info()["max_per_language"]
    base = worker.reference(None, None, [n])["cells"][str(n)]
    experts = {e.name: worker.reference(e.path, [e.language], [n])["cells"][str(n)] for e in space.experts}
    references = {"base": base, "experts": experts}
    runs: dict[str, list[list[float]]] = {}
    started = time.perf_counter()
    for algorithm in args.algorithms:
        for seed in args.seeds:
            searcher = space.searcher.model_copy(update={"algorithm": algorithm, "seed": seed})
            study = optuna.create_study(direction="maximize" if mode == "max" else "minimize",
                                        sampler=searcher.optuna_sampler())  # the space's settings (startup trials)
            sample = space.sampler()
            values = []
            for _ in range(args.trials):
                trial = study.ask()
                sample(trial)
                out = worker.run(space.merge_params(trial.params), n)
                value = float(space.score(out["cells"], references, n)[name])
                study.tell(trial, value)
                values.append(value)
            runs.setdefault(algorithm, []).append(values)
            print(f"  {algorithm} seed {seed}: best {max(values) if mode == 'max' else min(values):.4f}",
                  file=sys.stderr, flush=True)
    flat = [v for group in runs.values() for values in group for v in values]
    best = max(flat) if mode == "max" else min(flat)
    target = target_of(best, mode)
    per_algorithm: dict[str, dict[str, Any]] = {}
    for algorithm, group in runs.items():
        summary: dict[str, Any] = {"best": [max(values) if mode == "max" else min(values) for values in group]}
        for share in (0.95, 0.97, 0.99):
            goal = target_of(best, mode, share)
            reached = [trials_to_reach(values, goal, mode) for values in group]
            summary[f"trials_to_{round(share * 100)}"] = reached
            summary[f"median_trials_to_{round(share * 100)}"] = statistics.median(reached)
        curve = {}
        for count in sorted({10, 20, 40, args.trials} & set(range(1, args.trials + 1))):
            bests = [max(values[:count]) if mode == "max" else min(values[:count]) for values in group]
            curve[str(count)] = statistics.median(bests)
        summary["median_best_after"] = curve
        per_algorithm[algorithm] = summary
    # A target every run can be judged on: 99 % of random search's median final best.
    if "random" in runs:
        finals = [max(v) if mode == "max" else min(v) for v in runs["random"]]
        goal = target_of(statistics.median(finals), mode)
        for algorithm, group in runs.items():
            reached = [trials_to_reach(values, goal, mode) for values in group]
            per_algorithm[algorithm]["trials_to_99_of_random_median"] = reached
            per_algorithm[algorithm]["median_trials_to_99_of_random_median"] = statistics.median(reached)
    return {
        "objective": name,
        "mode": mode,
        "n_per_language": n,
        "trials_per_run": args.trials,
        "seeds": args.seeds,
        "best": best,
        "target": target,
        "algorithms": per_algorithm,
        "seconds": round(time.perf_counter() - started, 1),
    }


def _single_rung_space(space_path: str, directory: Path) -> Path:
    from lors_search.demo.paths import space_places
    from lors_search.space import load_search_space

    space = load_search_space(space_path, places=space_places())
    raw = yaml.safe_load(space.resolved_yaml())
    raw["name"] = f"{space.name}-full"
    raw["fidelity"]["n_per_language"] = [raw["fidelity"]["n_per_language"][-1]]
    path = directory / "full.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def asha(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd
    import ray

    from lors_search.search.driver import check_run_dir, run_search
    from lors_search.demo.paths import space_places
    from lors_search.space import load_search_space

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    work = Path(tempfile.mkdtemp(prefix="lors-asha-"))
    spaces = {"asha": args.space, "full": str(_single_rung_space(args.space, work))}
    tables = {}
    ray.init(num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False,
             logging_level="WARNING")
    try:
        for label, path in spaces.items():
            space = load_search_space(path, places=space_places())
            run_dir = check_run_dir(work / "runs", label, resume=False)
            run_search(space, run_dir, num_samples=args.num_samples, workers=args.workers,
                       progress=lambda message: None)
            tables[label] = pd.read_parquet(run_dir.trials_parquet).sort_values(["finished_at", "trial"])
    finally:
        ray.shutdown()
    mode = load_search_space(args.space, places=space_places()).objective_modes()[0]
    bests = {}
    for label, table in tables.items():
        complete = table[table["state"] == "COMPLETE"]["objective"]
        bests[label] = float(complete.max() if mode == "max" else complete.min())
    common = min(bests.values()) if mode == "max" else max(bests.values())
    target = target_of(common, mode)
    out: dict[str, Any] = {"num_samples": args.num_samples, "target": target, "runs": {}}
    for label, table in tables.items():
        rows = 0
        reached_after = None
        for _, row in table.iterrows():
            rows += int(row["rows_decoded"] or 0)
            ok = row["state"] == "COMPLETE" and (
                row["objective"] >= target if mode == "max" else row["objective"] <= target
            )
            if ok and reached_after is None:
                reached_after = rows
        out["runs"][label] = {
            "best": bests[label],
            "rows_decoded_total": int(table["rows_decoded"].fillna(0).sum()),
            "rows_decoded_to_target": reached_after,
            "states": table["state"].value_counts().to_dict(),
        }
    asha_run, full_run = out["runs"]["asha"], out["runs"]["full"]
    out["ratio_total"] = asha_run["rows_decoded_total"] / max(1, full_run["rows_decoded_total"])
    if asha_run["rows_decoded_to_target"] and full_run["rows_decoded_to_target"]:
        out["ratio_to_target"] = asha_run["rows_decoded_to_target"] / full_run["rows_decoded_to_target"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="part", required=True)
    a = sub.add_parser("samplers", help="TPE vs random: trials to 99 %% of the best")
    a.add_argument("--space", default=str(REPO / "search_spaces" / "smoke.yaml"))
    a.add_argument("--trials", type=int, default=30)
    a.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    a.add_argument("--algorithms", nargs="+", default=["tpe", "random"])
    a.add_argument("--n-per-language", type=int, default=None, help="dev clips per language (default: all)")
    a.add_argument("--threads", type=int, default=1)
    b = sub.add_parser("asha", help="decoded utterances with ASHA vs full fidelity")
    b.add_argument("--space", default=str(REPO / "search_spaces" / "smoke.yaml"))
    b.add_argument("--num-samples", type=int, default=20)
    b.add_argument("--workers", type=int, default=1, help="1 keeps trials in order (default)")
    args = parser.parse_args()
    result = samplers(args) if args.part == "samplers" else asha(args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
