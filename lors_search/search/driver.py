"""`run_search`: the whole search on a connected Ray cluster. Starts the actors, measures the references
(base and experts, unmerged) at every rung, then runs Ray Tune with FidelityOptunaSearch (the space's
define-by-run sampler, seed points first, the Optuna study in the run's SQLite) and ASHA over the dev-subset
rungs. A resumed run is rebuilt from the study and trials.parquet (lors_search.search.continuation), never from
Tune's pickles, and runs the rest of its budget as a fresh Tune experiment. The CLI is a thin layer on top.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lors_search.errors import UserError
from lors_search.rundir import RunDir, TrialRecord, TrialTable, check_not_held, hold_run, new_run_record, new_study_name
from lors_search.runtime.names import SearchSession, session_number

if TYPE_CHECKING:
    from lors_search.search.continuation import Continuation
    from lors_search.search.trainable import TrialContext
    from lors_search.space import CompiledSpace

Progress = Callable[[str], None]


@dataclass
class SearchOutcome:
    run_dir: RunDir
    status: str
    best: TrialRecord | None
    counts: dict[str, int]
    references: dict[str, Any]
    objective_names: list[str]
    objective_modes: list[str]
    rungs: list[int]
    seconds: float
    layout: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


def check_run_dir(runs_dir: str | os.PathLike[str], name: str, resume: bool) -> RunDir:
    """The run directory, checked before Ray starts: no other driver holds it, a new run must not exist, a
    resumed one must."""
    root = Path(runs_dir) / name
    run_dir = RunDir(root)
    check_not_held(run_dir)
    if resume:
        if not run_dir.run_json.is_file():
            raise UserError(f"nothing to resume: {root} is not a search run (no run.json)")
    elif root.exists():
        raise UserError(f"run directory {root} already exists; pass --resume to continue it or --name for a new run")
    return run_dir


def resumed_budget(run: Mapping[str, Any], num_samples: int | None, default: int) -> int:
    """The budget of a resumed run: the run's own, or `num_samples` when it is at least that (a larger
    value extends the search); a smaller one is refused (finished trials cannot be taken back)."""
    budget = int(run.get("num_samples") or default)
    if num_samples is None or num_samples == budget:
        return budget
    if num_samples < budget:
        raise UserError(
            f"--num-samples {num_samples} is smaller than the run's budget of {budget} trials; "
            f"resume with --num-samples {budget} (or more, to extend it) or without --num-samples"
        )
    return num_samples


def resolve_rungs(rungs: Sequence[int | None], max_per_language: int) -> tuple[int, ...]:
    """Rung sizes as ints (None = the whole split), capped at the split's size, strictly ascending."""
    out: list[int] = []
    for rung in rungs:
        size = max_per_language if rung is None else min(int(rung), max_per_language)
        if not out or size > out[-1]:
            out.append(size)
    return tuple(out)


def _search_part(space: CompiledSpace, max_per_language: int) -> int:
    try:
        return int(space.search_part(max_per_language))
    except ValueError as exc:
        raise UserError(f"search space {space.name}: {exc}") from None


def _per_rung(references: Mapping[str, Any], rungs: Sequence[int]) -> dict[int, Any]:
    """{rung: {"base": cells, "experts": {name: cells}}} from compute_references' per-model rung maps."""
    return {
        n: {
            "base": references["base"][n],
            "experts": {name: cells[n] for name, cells in references["experts"].items()},
        }
        for n in rungs
    }


def _build_tuner(
    space: CompiledSpace, run_dir: RunDir, run: Mapping[str, Any], context: TrialContext, layout: Any,
    continuation: Continuation,
    session: SearchSession,
):
    from ray import tune

    from lors_search.search.continuation import ContinuingOptunaSearch, seed_rung_records
    from lors_search.search.recorder import RecorderStopper, make_recorder
    from lors_search.search.scheduler import SeedFirstASHA
    from lors_search.search.searcher import FIDELITY_KEY
    from lors_search.search.seeding import TrialSeededSampler
    from lors_search.space.sampler import METHOD_PARAM
    from lors_search.search.storage import StudyStorage

    names = space.objective_names()
    modes = space.objective_modes()
    single = len(names) == 1
    levels = context.levels
    # Seed points are enqueued once, by the run's first session; later sessions find them in the study.
    seeds = space.seed_points() if continuation.asked == 0 else []
    searcher = ContinuingOptunaSearch(
        space=space.sampler(),
        metric=names[0] if single else list(names),
        mode=modes[0] if single else list(modes),
        points_to_evaluate=seeds or None,
        to_params=space.mapper,  # each trial's MergeParams, built once: its worker merges them, its record keeps them
        sampler=TrialSeededSampler(space.searcher),  # same trial number, same draws, across resumes
        study_name=run["study_name"],
        storage=StudyStorage(run_dir.storage_url),
        max_level=levels[-1],
        redo=continuation.redo,
    )
    scheduler = None
    if len(levels) > 1:
        scheduler = SeedFirstASHA(
            time_attr=FIDELITY_KEY,
            metric=names[0],
            mode=modes[0],
            max_t=levels[-1],
            grace_period=levels[0],
            reduction_factor=space.fidelity.reduction_factor,
            group_key=METHOD_PARAM if space.methods else None,  # each method is pruned against its own trials
        )
        seed_rung_records(scheduler, continuation.rung_records, continuation.trial_params)
    budget = space.budget
    recorder = make_recorder(run_dir, space, levels[-1], budget=continuation.budget, namespace=session.namespace)
    tuner = tune.Tuner(
        _trainable(context, layout),
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=continuation.to_run,
            max_concurrent_trials=layout.workers,
            time_budget_s=budget.time_budget_s,
            reuse_actors=True,
            trial_dirname_creator=trial_dirname,  # not from the config, which holds each trial's MergeParams
        ),
        run_config=tune.RunConfig(
            name=session.experiment,
            storage_path=str(run_dir.tune_dir.resolve()),
            failure_config=tune.FailureConfig(max_failures=budget.max_failures),
            callbacks=[recorder],
            stop=RecorderStopper(recorder),
            verbose=0,
        ),
    )
    return tuner, recorder


@contextlib.contextmanager
def _without_tune_loggers() -> Iterator[None]:
    """Tune's default per-trial loggers off for one fit (Ray 2.60 reads TUNE_DISABLE_AUTO_CALLBACK_LOGGERS when
    `fit` creates its callbacks): the CSV, JSON and TensorBoard files of every trial cost ~12 ms per result and
    per trial end on the driver, between a trial's last result and the next trial's start, and duplicate what
    trials.parquet and the study keep (each trial's result, each rung's score). Without their files the
    ResultGrid that `fit` returns (never used here) warns that it found no metrics: that warning is dropped."""
    name = "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS"
    before = os.environ.get(name)
    os.environ[name] = "1"
    analysis = logging.getLogger("ray.tune.analysis.experiment_analysis")
    analysis.addFilter(_no_missing_metrics)
    try:
        yield
    finally:
        analysis.removeFilter(_no_missing_metrics)
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _no_missing_metrics(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Failed to fetch metrics")


def trial_dirname(trial: Any) -> str:
    """A Tune trial's folder under tune/<study>-session-<n>/: its Optuna number and Tune id."""
    return f"trial_{trial.config.get('optuna_trial', 'x')}_{trial.trial_id}"


def new_session(run_dir: RunDir, *, resume: bool) -> SearchSession:
    """This driver's session of the run (lors_search.runtime.names), taken while holding the run's lock: the
    run's study name (a new one for a new run: a namespace no other run has) and the next session number. A
    resumed run's Tune experiment folder is made at once, so no later session takes the number again, even if
    this one is killed before Tune starts (and its actors outlive it for a while); Tune never finds an earlier
    session's state (pickles) in it."""
    if resume:
        study_name = run_dir.read_run().get("study_name")
        if not study_name:
            raise UserError(f"{run_dir.run_json} names no study_name; the run cannot be resumed")
    else:
        study_name = new_study_name(run_dir.root.name)
    tune = run_dir.tune_dir
    numbers = [n for p in tune.iterdir() if (n := session_number(p.name)) is not None] if tune.is_dir() else []
    session = SearchSession(str(study_name), max(numbers, default=0) + 1)
    if resume:
        (tune / session.experiment).mkdir(parents=True)
    return session


def _load_study(run_dir: RunDir, run: Mapping[str, Any]) -> Any:
    import optuna

    from lors_search.search.storage import StudyStorage

    try:
        return optuna.load_study(study_name=run["study_name"], storage=StudyStorage(run_dir.storage_url))
    except KeyError:
        raise UserError(f"{run_dir.study_db} holds no study {run['study_name']!r}; the run cannot be resumed") from None


def _continuation(
    space: CompiledSpace, run_dir: RunDir, run: Mapping[str, Any], budget: int, levels: Sequence[float]
) -> Continuation:
    from lors_search.search.continuation import plan_continuation

    study = _load_study(run_dir, run)
    return plan_continuation(study, TrialTable(run_dir.trials_parquet), budget, space.objective_names(), levels)


def _trainable(context: TrialContext, layout: Any):
    from ray import tune

    from lors_search.search.trainable import run_trial

    return tune.with_resources(tune.with_parameters(run_trial, context=context), {"cpu": layout.trial_cpus})


def _worker_restarts(runtime: Any) -> int:
    """Workers whose process changed during the search (restarted after a failure)."""
    import ray

    try:
        now = ray.get([worker.info.remote() for worker in runtime.workers], timeout=30)
    except Exception:  # noqa: BLE001 - a worker still restarting counts too
        return len(runtime.workers)
    return sum(1 for before, after in zip(runtime.worker_info, now, strict=True) if before["pid"] != after["pid"])


def run_search(
    space: CompiledSpace,
    run_dir: RunDir,
    *,
    resume: bool = False,
    num_samples: int | None = None,
    workers: int | None = None,
    space_source: str = "",
    progress: Progress = print,
    record_processes: bool = False,
    session: SearchSession | None = None,
    cpus: int | None = None,
) -> SearchOutcome:
    """Run (or resume) the search of `space` into `run_dir` on the Ray cluster this process is connected to.

    `num_samples` is the run's budget in trials (default: the space's; on resume: the run's, and a larger
    value extends it). `workers`, `cpus`: the layout's (lors_search.runtime.layout). `record_processes`: this
    process started the local Ray, so its Ray processes are recorded in the run directory while the search runs
    (lors_search.runtime.reaper), for the next run to reap if this driver is killed. The run is held
    (lors_search.rundir.lock) for the whole search: a second driver of the same run stops with a UserError.
    `session`: the one the caller took with `new_session` while holding the run (default: a new one)."""
    with hold_run(run_dir):
        check_run_dir(run_dir.root.parent, run_dir.root.name, resume)  # again, now that no other driver can race
        session = session or new_session(run_dir, resume=resume)
        return _run_search(space, run_dir, session, resume=resume, num_samples=num_samples, workers=workers, cpus=cpus,
                           space_source=space_source, progress=progress, record_processes=record_processes)


def _run_search(
    space: CompiledSpace,
    run_dir: RunDir,
    session: SearchSession,
    *,
    resume: bool,
    num_samples: int | None,
    workers: int | None,
    cpus: int | None,
    space_source: str,
    progress: Progress,
    record_processes: bool,
) -> SearchOutcome:
    import ray

    from lors_search.runtime.cluster import compute_references, start_runtime
    from lors_search.runtime.reaper import ProcessRecorder
    from lors_search.runtime.layout import plan_layout
    from lors_search.runtime.spec import spec_from_space
    from lors_search.search.continuation import study_counts
    from lors_search.search.storage import close_study_storages
    from lors_search.runtime.trial_call import Packed, Scoring
    from lors_search.search.trainable import TrialContext, fidelity_levels

    started = time.perf_counter()
    names, modes = space.objective_names(), space.objective_modes()
    layout = plan_layout(ray.cluster_resources(), len(space.experts), workers, cpus)
    processes = ProcessRecorder(run_dir.processes_json) if record_processes else None
    if processes is not None and resume:
        processes.start()
    runtime = start_runtime(spec_from_space(space), layout, session.namespace, progress)
    try:
        # With honest selection the search never scores the held-out tail of each language's dev order.
        rungs = resolve_rungs(space.fidelity.n_per_language, _search_part(space, runtime.max_per_language))
        if len(names) > 1:
            rungs = rungs[-1:]  # ASHA needs one scalar: multi-objective searches score the full subset only
        if resume:
            run = run_dir.read_run()
            if [int(n) for n in run["fidelity"]] != list(rungs):
                raise UserError(f"the run's rungs {run['fidelity']} differ from the space's {list(rungs)}")
            per_rung = run["references_per_rung"]
            budget = resumed_budget(run, num_samples, space.budget.num_samples)
            run = run_dir.update_run(status="running", num_samples=budget, ray_namespace=session.namespace)
        else:
            run_dir.root.mkdir(parents=True, exist_ok=False)
            if processes is not None:
                processes.start()
            run_dir.space_yaml.write_text(space.resolved_yaml(), encoding="utf-8")
            run = new_run_record(
                name=run_dir.root.name,
                study_name=session.study_name,
                space_source=space_source,
                objectives=list(zip(names, modes, strict=True)),
                data={
                    "path": str(space.data.path),
                    "split": space.data.split,
                    "languages": list(space.languages),
                    "tasks": list(space.data.tasks),
                    "n_clips": runtime.worker_info[0]["n_clips"],
                    "max_per_language": runtime.max_per_language,
                },
                fidelity=rungs,
            )
            budget = num_samples or space.budget.num_samples
            run["num_samples"] = budget
            run["ray_namespace"] = session.namespace
            run_dir.write_run(run)
            progress(f"scoring the references (base, {len(space.experts)} expert(s)) at rungs {list(rungs)}")
            references = compute_references(runtime, rungs, progress)
            per_rung = _per_rung(references, rungs)
            try:
                space.scorer.check_references(per_rung, rungs[-1])
            except ValueError as exc:
                raise UserError(f"the objective is undefined on this dev set: {exc}") from None
            run = run_dir.update_run(references=per_rung[rungs[-1]], references_per_rung=per_rung)
        levels = fidelity_levels(len(rungs), space.fidelity.reduction_factor)
        scoring = Packed(Scoring(space.scorer, per_rung))  # unpacked by the workers, not by the trial process
        context = TrialContext(names=tuple(names), rungs=rungs, levels=levels, scoring=scoring,
                               namespace=session.namespace)
        if resume:
            continuation = _continuation(space, run_dir, run, budget, levels)
            progress(f"resuming from {run_dir.study_db.name} and {run_dir.trials_parquet.name}: {continuation.describe()}")
        else:
            from lors_search.search.continuation import Continuation

            continuation = Continuation(budget=budget)
        setup_seconds = time.perf_counter() - started
        fit_started = time.perf_counter()
        status = "interrupted"
        try:
            if continuation.to_run:
                tuner, recorder = _build_tuner(space, run_dir, run, context, layout, continuation, session)
                progress(
                    f"searching: {layout.describe()}, rungs {list(rungs)} clips/language, study {run['study_name']}, "
                    f"Ray namespace {session.namespace} (job {ray.get_runtime_context().get_job_id()})"
                )
                try:
                    with _without_tune_loggers():
                        tuner.fit()
                finally:
                    recorder.flush()  # every finished trial on disk before the driver reads the run directory
                if recorder.write_error is not None:
                    raise UserError(recorder.write_error)
            # Tune returns normally after Ctrl-C too: finished means the study holds the whole budget finished
            # (or the time budget ran out).
            counts = study_counts(_load_study(run_dir, run))
            budget_s = space.budget.time_budget_s
            out_of_time = budget_s is not None and time.perf_counter() - fit_started >= 0.99 * budget_s
            status = "finished" if sum(counts.values()) >= budget or out_of_time else "interrupted"
        finally:
            fit_seconds = time.perf_counter() - fit_started
            try:
                run_dir.update_run(status=status)
            except OSError:
                pass  # an unwritable run directory was reported already; run.json keeps "running"
            close_study_storages()  # last: every connection closed folds study.db-wal back into study.db
        restarts = _worker_restarts(runtime)
    finally:
        runtime.shutdown()
        if processes is not None:
            processes.stop()
    table = TrialTable(run_dir.trials_parquet)
    return SearchOutcome(
        run_dir=run_dir,
        status=status,
        best=table.best(modes[0]),
        counts=counts,  # the study's, which the table agrees with once every trial is recorded
        references=per_rung[rungs[-1]],
        objective_names=names,
        objective_modes=modes,
        rungs=list(rungs),
        seconds=time.perf_counter() - started,
        layout=layout,
        extra={
            "expert_info": runtime.expert_info,
            "worker_info": runtime.worker_info,
            "worker_restarts": restarts,
            "setup_seconds": setup_seconds,
            "fit_seconds": fit_seconds,
        },
    )
