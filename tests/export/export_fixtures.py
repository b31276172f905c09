"""Real search run directories without Ray, for the export and report tests (a uniquely named module, so
tests/report can import it too).

`build_bench`: a tiny benchmark on disk (eSpeak NG corpus of numbers in two languages, a tiny Whisper base
trained for a few seconds, one expert per language fine-tuned from it), laid out like a demo directory.
`build_run`: a run directory as `lors-search search` writes it (docs/search.md): space.yaml, run.json with the
references, a real Optuna study in study.db, trials.parquet, best.yaml, best.json. Each trial's merge is built
and scored by the search's own worker code (`lors_search.runtime.local.local_worker`: PreparedMerger into a
resident model, Evaluator over the rungs), only without Ray Tune around it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import tiny_bench_kit
from tiny_bench_kit import corpus_spec, lors_ranges

LANGUAGES = ("de", "es")
CORPUS_SPEC = corpus_spec(LANGUAGES, {"train": 40, "dev": 10, "test": 4})


def build_bench(root: Path) -> Path:
    """base/, experts/<lang>/, multitask/ (the base trained longer: a stand-in compare model), data/ under
    `root`; reused when `root/done` exists."""
    return tiny_bench_kit.build_bench(root, CORPUS_SPEC, multitask=True)


def space_dict(bench: Path, name: str, *, multi: bool = False) -> dict[str, Any]:
    """A small LoRS space over the bench: per-layer groups on the encoder, one decoder group, 2 rungs."""
    raw: dict[str, Any] = {
        "name": name,
        "base": str(bench / "base"),
        "experts": [
            {"name": language, "path": str(bench / "experts" / language), "language": language}
            for language in LANGUAGES
        ],
        "data": {"path": str(bench / "data"), "split": "dev", "batch_size": 8},
        "method": "lors",
        "groups": {"encoder": {"size": 1}, "decoder": {"size": "all"}, "modules": "per_kind"},
        **lors_ranges(),
        "budget": {"num_samples": 4, "max_failures": 0},
        "fidelity": {"n_per_language": [3, None], "reduction_factor": 2},
        "searcher": {"algorithm": "nsga2" if multi else "tpe", "seed": 0},
        "compare": {"multitask": str(bench / "multitask")},
    }
    if multi:
        raw["objective"] = {"kind": "multi", "objectives": ["asr_wer", "st_bleu"]}
    return raw


def _merge_config_yaml(space: Any, flat: dict[str, Any]) -> str:
    config = space.merge_config(flat)
    return yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), sort_keys=False)


def build_run(
    bench: Path,
    runs_dir: Path,
    name: str,
    *,
    multi: bool = False,
    n_sampled: int = 2,
    prune: Sequence[int] = (2,),
    fail: bool = True,
) -> Path:
    """A finished run `runs_dir/name`: the seed trials, then `n_sampled` sampled
    ones; the trials numbered in `prune` stop after the first rung (PRUNED); with `fail`, one more trial FAILs.
    Reused when `runs_dir/<name>.done` exists."""
    import optuna

    from lors_search.runtime.local import local_worker
    from lors_search.runtime.spec import spec_from_space
    from lors_search.search.driver import resolve_rungs
    from lors_search.rundir import RunDir, TrialRecord, TrialTable, new_run_record, new_study_name, now, write_best
    from lors_search.space import load_search_space

    root = Path(runs_dir) / name
    done = Path(runs_dir) / f"{name}.done"
    if done.exists():
        return root
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        space_file = runs_dir / f"{name}.space.yaml"
        space_file.write_text(yaml.safe_dump(space_dict(bench, name, multi=multi), sort_keys=False))
        space = load_search_space(space_file)
        names, modes = space.objective_names(), space.objective_modes()

        worker = local_worker(spec_from_space(space))
        rungs = resolve_rungs(space.fidelity.n_per_language, worker.info()["max_per_language"])
        if multi:
            rungs = rungs[-1:]
        references = {"base": worker.reference(None, None, list(rungs))["cells"], "experts": {}}
        for expert in space.experts:
            references["experts"][expert.name] = worker.reference(expert.path, [expert.language], list(rungs))["cells"]
        per_rung = {
            n: {"base": references["base"][n], "experts": {e: cells[n] for e, cells in references["experts"].items()}}
            for n in rungs
        }

        run_dir = RunDir(root)
        root.mkdir(parents=True)
        run_dir.space_yaml.write_text(space.resolved_yaml(), encoding="utf-8")
        run = new_run_record(
            name=name,
            study_name=new_study_name(name),
            space_source=str(space_file),
            objectives=list(zip(names, modes, strict=True)),
            data={"path": str(space.data.path), "split": space.data.split, "languages": list(space.languages),
                  "tasks": list(space.data.tasks), "max_per_language": worker.info()["max_per_language"]},
            fidelity=rungs,
        )
        run.update(references=per_rung[rungs[-1]], references_per_rung=per_rung)
        run_dir.write_run(run)

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = space.searcher.optuna_sampler()
        study = optuna.create_study(
            study_name=run["study_name"],
            storage=optuna.storages.RDBStorage(run_dir.storage_url),
            sampler=sampler,
            directions=["maximize" if m == "max" else "minimize" for m in modes],
        )
        for point in space.seed_points():
            study.enqueue_trial(point)
        table = TrialTable(run_dir.trials_parquet)
        best: float | None = None
        n_trials = len(space.seed_points()) + n_sampled
        for _ in range(n_trials):
            trial = study.ask()
            space.sampler()(trial)
            flat = dict(trial.params)
            stop = rungs[:1] if trial.number in prune and len(rungs) > 1 else rungs
            result: dict[str, Any] = {}
            scores: dict[str, float] = {}
            merge_s = eval_s = 0.0
            for step, n in enumerate(stop):
                result = worker.run(space.merge_params(flat), n)
                merge_s += result["merge_seconds"]
                eval_s += result["eval_seconds"]
                scores = space.score(result["cells"], per_rung, n)
                if len(names) == 1:
                    trial.report(scores[names[0]], step)
            state = "COMPLETE" if stop[-1] == rungs[-1] else "PRUNED"
            if state == "COMPLETE":
                study.tell(trial, [scores[n] for n in names] if len(names) > 1 else scores[names[0]])
            else:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            record = TrialRecord(
                number=trial.number,
                state=state,
                objective=float(scores[names[0]]),
                objectives={n: float(scores[n]) for n in names},
                n_per_language=stop[-1],
                params=flat,
                cells=dict(sorted(result["cells"].items())),
                merge_config_yaml=_merge_config_yaml(space, flat),
                tune_trial_id=f"local_{trial.number:05d}",
                merge_seconds=merge_s,
                eval_seconds=eval_s,
                trial_seconds=merge_s + eval_s,
                rows_decoded=result["rows_decoded"],
                finished_at=now(),
            )
            table.add(record)
            value = record.objective
            if state == "COMPLETE" and math.isfinite(value):
                if best is None or (value > best if modes[0] == "max" else value < best):
                    best = value
                    write_best(run_dir, record)
        if fail:
            trial = study.ask()
            space.sampler()(trial)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            table.add(
                TrialRecord(
                    number=trial.number,
                    state="FAIL",
                    objectives=dict.fromkeys(names),
                    params=dict(trial.params),
                    merge_config_yaml=_merge_config_yaml(space, dict(trial.params)),
                    tune_trial_id=f"local_{trial.number:05d}",
                    finished_at=now(),
                )
            )
        run_dir.update_run(status="finished")
        done.write_text("ok\n")
    finally:
        torch.set_num_threads(threads)
    return root


def shared_dir(base: Path, name: str) -> Path:
    """`$LORS_TEST_EXPORT_DIR/name` when set (reused across sessions), else under the session's base temp."""
    shared = os.environ.get("LORS_TEST_EXPORT_DIR")
    return Path(shared) / name if shared else Path(base) / name


# The session fixtures of tests/export and tests/report (different names, same directories) call these two, so
# that when both folders run in one session they build the benchmark and each run only once.
def session_bench(factory: pytest.TempPathFactory) -> Path:
    """The bench under shared_dir(..., "export-bench")."""
    return build_bench(shared_dir(factory.getbasetemp(), "export-bench"))


def session_run(bench: Path, factory: pytest.TempPathFactory, name: str, **options: Any) -> Path:
    """`build_run(bench, <shared export-runs>, name, **options)`."""
    return build_run(bench, shared_dir(factory.getbasetemp(), "export-runs"), name, **options)
