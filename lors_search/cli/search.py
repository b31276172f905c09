"""`lors-search search`: run (or resume) a distributed search of a space's merge parameters with Ray Tune and
Optuna; thin wiring of `lors_search.space` (validated before Ray starts) and `lors_search.search`."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from lors_search.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "search",
        help="search per-layer merge parameters with Ray Tune + Optuna",
        description=(
            "Search the rank, density and scale of a LoRS merge (or a baseline) per layer group against dev "
            "WER/BLEU, with Ray Tune + Optuna (TPE by default) and ASHA over dev-subset size. Runs on a local "
            "Ray by default, on an existing cluster with --address. Writes RUNS/NAME/: space.yaml, run.json, "
            "study.db, trials.parquet, best.yaml, best.json, tune/ (docs/search.md)."
        ),
    )
    parser.add_argument("space", metavar="SPACE.yaml", help="search space (see search_spaces/ and docs/search-space.md)")
    parser.add_argument("--name", metavar="RUN", help="run name (default: the space's name)")
    parser.add_argument(
        "--methods", metavar="M[,M...]",
        help="search only these of a methods space's methods, with its ranges (e.g. tsv_m to search TSV-M alone); "
        "the run is named <space name>-<m1>+<m2> unless --name is given",
    )
    parser.add_argument(
        "--num-samples", type=int, metavar="N",
        help="the run's budget in finished trials (default: the space's; with --resume the run's, or a larger N to extend it)",
    )
    parser.add_argument("--address", metavar="ADDR", help="connect to this Ray cluster (e.g. auto, ray://host:10001)")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run RUNS/NAME")
    parser.add_argument(
        "--cleanup", action="store_true",
        help="only end the local Ray processes a killed driver of RUNS/NAME left behind (by the PIDs it recorded)",
    )
    parser.add_argument("--runs-dir", default="runs", metavar="DIR", help="where run directories go (default ./runs)")
    parser.add_argument(
        "--workers", type=int, metavar="N", help="worker actors (default: one per GPU, else one per 4 CPUs)"
    )
    parser.add_argument("--no-dashboard", action="store_true", help="local Ray without the dashboard")
    parser.set_defaults(func=run)


def _say(message: str) -> None:
    print(f"lors-search search: {message}", flush=True)


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _connect(args: argparse.Namespace) -> Any:
    """Connect to Ray (lors_search.runtime.local_ray.connect): a private local Ray with every available CPU
    and the dashboard on 127.0.0.1 by default, the cluster at --address (or $RAY_ADDRESS, as under
    `ray job submit`), or the Ray this process already initialised. Prints where to watch and how to
    authenticate with Ray's token."""
    from lors_search.runtime.local_ray import connect
    from lors_search.runtime.names import NAMESPACE

    return connect(
        args.address,
        None if args.address else _available_cpus(),
        dashboard=not args.no_dashboard,
        namespace=NAMESPACE,
        stream=sys.stdout,
    )


def _reap(run_dir: Any) -> list[int]:
    """End what a killed driver of this run left running (its recorded local Ray processes); their PIDs."""
    from lors_search.runtime.reaper import reap

    pids = reap(run_dir.processes_json)
    if pids:
        _say(f"ended {len(pids)} process(es) a killed driver of this run left running: pids {' '.join(map(str, pids))}")
    return pids


def _fmt(metric: str, value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    return f"{100 * value:.1f}" if metric in ("wer", "cer") else f"{value:.1f}"


def _fmt_objective(value: float | None) -> str:
    return "nan" if value is None else f"{value:.4f}"


def summary_table(outcome: Any, space: Any) -> str:
    """The end-of-search table: per cell, the best trial's WER/CER/BLEU against the base and the experts."""
    best_cells = outcome.best.cells if outcome.best else {}
    refs = outcome.references
    by_language = {expert.language: expert.name for expert in space.experts}
    lines = [f"{'cell':<16} {'metric':<6} {'best':>7} {'base':>7} {'expert':>7}"]
    for cell in sorted(refs.get("base", {})):
        language, _, task = cell.partition("/")
        expert = refs.get("experts", {}).get(by_language.get(language, ""), {}).get(cell, {})
        for metric in ("wer", "cer") if task == "transcribe" else ("bleu",):
            lines.append(
                f"{cell:<16} {metric.upper() + (' %' if metric in ('wer', 'cer') else ''):<6} "
                f"{_fmt(metric, best_cells.get(cell, {}).get(metric)):>7} "
                f"{_fmt(metric, refs['base'][cell].get(metric)):>7} {_fmt(metric, expert.get(metric)):>7}"
            )
    return "\n".join(lines)


def _select(space: Any, root: Path) -> int:
    """Honest selection after a finished search: the winner is chosen on the held-out dev clips; its trial."""
    from lors_search.rundir import SearchRun
    from lors_search.search.selection import run_selection

    print()
    run = SearchRun(root)
    return int(run_selection(space, root, [t for t in run.trials.values() if run.is_full_fidelity(t)], progress=_say)["winner"])


def run(args: argparse.Namespace) -> int:
    from lors_search.space import load_search_space

    only = None if args.methods is None else [m.strip() for m in args.methods.split(",") if m.strip()]
    space = load_search_space(args.space, only_methods=only)  # every problem is a one-line UserError, before Ray starts
    if args.num_samples is not None and args.num_samples < 1:
        raise UserError(f"--num-samples must be at least 1, got {args.num_samples}")
    if args.workers is not None and args.workers < 1:
        raise UserError(f"--workers must be at least 1, got {args.workers}")
    from lors_search.search.driver import check_run_dir, resumed_budget, run_search

    name = args.name or space.name
    from lors_search.cli.guards import check_search_output

    check_search_output(args.runs_dir, name, space, resume=args.resume)  # name, inputs, writable; before Ray
    if not args.cleanup:
        from lors_search.evaluation.preflight import check_search_inputs

        check_search_inputs(space, strict=True)  # weights and audio present: what actors would fail on later
    run_dir = check_run_dir(args.runs_dir, name, args.resume or args.cleanup)
    if args.cleanup:
        if not _reap(run_dir):
            _say(f"nothing to clean up: no process of {run_dir.root} is left running")
        return 0
    if args.resume and run_dir.space_yaml.is_file():
        if run_dir.space_yaml.read_text(encoding="utf-8") != space.resolved_yaml():
            raise UserError(f"{args.space} differs from the space the run {run_dir.root} started with ({run_dir.space_yaml})")
    if args.resume:
        resumed_budget(run_dir.read_run(), args.num_samples, space.budget.num_samples)  # refuses a smaller one
        _reap(run_dir)  # a killed driver's Ray processes, before this run starts its own

    from lors_search.console import capture_foreign_output, hints_wanted, release_foreign_output  # issue 13 item 8

    capture_foreign_output(run_dir.root, say=_say)
    connection = _connect(args)
    try:
        outcome = run_search(
            space,
            run_dir,
            resume=args.resume,
            num_samples=args.num_samples,
            workers=args.workers,
            space_source=str(Path(args.space).resolve()),
            progress=_say,
            record_processes=connection.started_local,
        )
    finally:
        connection.shutdown()  # stops Ray only when this command started it
        release_foreign_output()  # Ray's and Optuna's loggers as they were (the log keeps what they said)
    counts = outcome.counts
    print()
    print(
        f"search {outcome.status} in {outcome.seconds:.0f} s: {sum(counts.values())} trials "
        f"({counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed)"
    )
    if outcome.best is None:
        print(f"no trial completed at full fidelity; run directory: {run_dir.root}")
        return 1 if outcome.status == "finished" else 130
    best = outcome.best
    objectives = ", ".join(f"{n} {_fmt_objective(best.objectives.get(n))}" for n in outcome.objective_names)
    asr_error = getattr(getattr(space, "objective", None), "asr_error", None)
    uses = f"; ASR error {asr_error.upper()}" if asr_error and getattr(space.objective, "kind", "") != "multi" else ""
    print(f"best trial #{best.number}: {objectives} (on {best.n_per_language} dev clips per language{uses})")
    print(summary_table(outcome, space))
    winner = _select(space, run_dir.root) if space.selection is not None and outcome.status == "finished" else None
    print(f"run directory: {run_dir.root}")
    if winner is None:  # with a winner, the selection line named its merge config (winner.yaml)
        print(f"best merge config: {run_dir.best_yaml}")
    export = f"lors-search export {shlex.quote(str(run_dir.root))} --out {shlex.quote(str(Path('merged') / run_dir.root.name))}"
    if hints_wanted():
        print(f"next: {export}" + (f"  (exports the winner, trial {winner})" if winner is not None else ""))
    if outcome.status != "finished":
        print(f"interrupted; continue with: lors-search search {shlex.quote(args.space)} --name {name} --resume", file=sys.stderr)
        return 130
    return 0
