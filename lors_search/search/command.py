"""What `lors-search search` does with a loaded space, as a library function the CLI and the demo's main job
both call: the checks before Ray starts, the connection, the search (lors_search.search.driver), the end-of-search
summary, honest selection and the hints. Returns the command's exit code."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lors_search.console import capture_foreign_output, release_foreign_output
from lors_search.errors import UserError
from lors_search.evaluation.preflight import check_search_inputs
from lors_search.rundir import RunDir, SearchRun, hold_run
from lors_search.rundir.inputs import check_search_output
from lors_search.runtime.local_ray import connect
from lors_search.runtime.reaper import reap
from lors_search.search.driver import SearchOutcome, check_run_dir, new_session, resumed_budget, run_search
from lors_search.search.selection import run_selection

if TYPE_CHECKING:
    from lors_search.space import CompiledSpace


def say(message: str) -> None:
    print(f"lors-search search: {message}", flush=True)


def search_command(
    space: CompiledSpace,
    space_file: str | os.PathLike[str],
    *,
    name: str | None = None,
    runs_dir: str | os.PathLike[str] = "runs",
    address: str | None = None,
    resume: bool = False,
    cleanup: bool = False,
    num_samples: int | None = None,
    workers: int | None = None,
    cpus: int | None = None,
    dashboard: bool = True,
    hints: bool = True,
) -> int:
    """Run (or resume, or only clean up after) the search of `space` (loaded from `space_file`) as run `name`
    (default: the space's) under `runs_dir`, on a private local Ray or the cluster at `address`. `hints`: end
    with the "next: ..." command (the demo's main job, which runs the next steps itself, passes False)."""
    name = name or space.name
    check_search_output(runs_dir, name, space, resume=resume)  # name, inputs, writable; before Ray
    if not cleanup:
        check_search_inputs(space, strict=True)  # weights and audio present: what actors would fail on later
    run_dir = check_run_dir(runs_dir, name, resume or cleanup)
    # One driver per run from here to the end (lors_search.rundir.lock): a second search, --resume or --cleanup
    # of the same run stops with one line.
    with hold_run(run_dir):
        if cleanup:
            if not _reap(run_dir):
                say(f"nothing to clean up: no process of {run_dir.root} is left running")
            return 0
        if resume and run_dir.space_yaml.is_file():
            if run_dir.space_yaml.read_text(encoding="utf-8") != space.resolved_yaml():
                raise UserError(f"{space_file} differs from the space the run {run_dir.root} started with ({run_dir.space_yaml})")
        if resume:
            resumed_budget(run_dir.read_run(), num_samples, space.budget.num_samples)  # refuses a smaller one
            _reap(run_dir)  # a killed driver's Ray processes, before this run starts its own
        session = new_session(run_dir, resume=resume)  # this driver's Ray namespace and Tune experiment

        capture_foreign_output(run_dir.root, say=say)
        connection = _connect(address, dashboard, session.namespace)
        try:
            outcome = run_search(
                space,
                run_dir,
                resume=resume,
                num_samples=num_samples,
                workers=workers,
                cpus=cpus,
                space_source=str(Path(space_file).resolve()),
                progress=say,
                record_processes=connection.started_local,
                session=session,
            )
        finally:
            connection.shutdown()  # stops Ray only when this command started it
            release_foreign_output()  # Ray's and Optuna's loggers as they were (the log keeps what they said)
        return _summary(outcome, space, run_dir, space_file, name, hints)


def _summary(
    outcome: SearchOutcome, space: CompiledSpace, run_dir: RunDir, space_file: str | os.PathLike[str], name: str,
    hints: bool,
) -> int:
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
    objective = space.space.objective
    uses = f"; ASR error {objective.asr_error.upper()}" if objective.kind != "multi" else ""
    print(f"best trial #{best.number}: {objectives} (on {best.n_per_language} dev clips per language{uses})")
    print(summary_table(outcome, space))
    winner = _select(space, run_dir.root) if space.selection is not None and outcome.status == "finished" else None
    print(f"run directory: {run_dir.root}")
    if winner is None:  # with a winner, the selection line named its merge config (winner.yaml)
        print(f"best merge config: {run_dir.best_yaml}")
    export = f"lors-search export {shlex.quote(str(run_dir.root))} --out {shlex.quote(str(Path('merged') / run_dir.root.name))}"
    if hints:
        print(f"next: {export}" + (f"  (exports the winner, trial {winner})" if winner is not None else ""))
    if outcome.status != "finished":
        print(f"interrupted; continue with: lors-search search {shlex.quote(str(space_file))} --name {name} --resume",
              file=sys.stderr)
        return 130
    return 0


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _connect(address: str | None, dashboard: bool, namespace: str) -> Any:
    """Connect to Ray (lors_search.runtime.local_ray.connect): a private local Ray with every available CPU
    and the dashboard on 127.0.0.1 by default, the cluster at `address` (or $RAY_ADDRESS, as under
    `ray job submit`), or the Ray this process already initialised. Prints where to watch and how to
    authenticate with Ray's token. The driver's job joins the search session's `namespace`, so Tune's trial
    actors are listed there beside the named ones."""
    return connect(
        address,
        None if address else _available_cpus(),
        dashboard=dashboard,
        namespace=namespace,
        stream=sys.stdout,
    )


def _reap(run_dir: RunDir) -> list[int]:
    """End what a killed driver of this run left running (its recorded local Ray processes); their PIDs."""
    pids = reap(run_dir.processes_json)
    if pids:
        say(f"ended {len(pids)} process(es) a killed driver of this run left running: pids {' '.join(map(str, pids))}")
    return pids


def _fmt(metric: str, value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    return f"{100 * value:.1f}" if metric in ("wer", "cer") else f"{value:.1f}"


def _fmt_objective(value: float | None) -> str:
    return "nan" if value is None else f"{value:.4f}"


def summary_table(outcome: SearchOutcome, space: CompiledSpace) -> str:
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


def _select(space: CompiledSpace, root: Path) -> int:
    """Honest selection after a finished search: the winner is chosen on the held-out dev clips; its trial."""
    print()
    run = SearchRun(root)
    return int(run_selection(space, root, [t for t in run.trials.values() if run.is_full_fidelity(t)], progress=say)["winner"])
