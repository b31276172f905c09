"""Unit tests of the search's pieces without Ray Tune running: the fidelity-aware OptunaSearch, the layout of
actors on a cluster, the rungs, the trial table and the recorder's rows."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from lors_search.errors import UserError
from lors_search.runtime.layout import TRIAL_CPUS, plan_layout
from lors_search.search.driver import resolve_rungs
from lors_search.search.scheduler import SeedFirstASHA
from lors_search.search.searcher import FIDELITY_KEY, FidelityOptunaSearch
from lors_search.search.trainable import fidelity_levels


def space_fn(trial: optuna.Trial) -> None:
    trial.suggest_float("x", 0.0, 1.0)
    trial.suggest_int("rank", 1, 8, log=True)


def make_searcher(storage=None, study_name: str = "units", **kwargs) -> FidelityOptunaSearch:
    return FidelityOptunaSearch(
        space=space_fn,
        metric="objective",
        mode="max",
        sampler=optuna.samplers.RandomSampler(seed=0),
        storage=storage or optuna.storages.InMemoryStorage(),
        study_name=study_name,
        max_level=4.0,
        **kwargs,
    )


def states(searcher: FidelityOptunaSearch) -> dict[int, TrialState]:
    return {t.number: t.state for t in searcher._ot_study.get_trials(deepcopy=False)}


def test_suggest_gives_the_optuna_number_and_flat_params() -> None:
    searcher = make_searcher(points_to_evaluate=[{"x": 0.25, "rank": 2}])
    first = searcher.suggest("a")
    second = searcher.suggest("b")
    assert first == {"optuna_trial": 0, "params": {"x": 0.25, "rank": 2}, "seed": True}
    assert second["optuna_trial"] == 1 and set(second["params"]) == {"x", "rank"} and "seed" not in second


def test_asha_records_seeds_at_every_rung_but_never_stops_them_early() -> None:
    scheduler = SeedFirstASHA(time_attr=FIDELITY_KEY, metric="objective", mode="max", max_t=9,
                              grace_period=1, reduction_factor=3)
    configs = ({"params": {}}, {"params": {}, "seed": True}, {"params": {}, "seed": True}, {"params": {}}, {"params": {}})
    best, seed_a, seed_b, middling, poor = (Trial("fn", config=config, stub=True) for config in configs)
    for trial in (best, seed_a, seed_b, middling, poor):
        scheduler.on_trial_add(None, trial)
    result = lambda level, value: {FIDELITY_KEY: level, "objective": value}  # noqa: E731
    assert scheduler.on_trial_result(None, best, result(1.0, 0.9)) == TrialScheduler.CONTINUE
    # Far below the rung's cut, the seeds go on ...
    assert scheduler.on_trial_result(None, seed_a, result(1.0, 0.1)) == TrialScheduler.CONTINUE
    assert scheduler.on_trial_result(None, seed_b, result(1.0, 0.1)) == TrialScheduler.CONTINUE
    # ... and their scores count for the cut (2/3 percentile of 0.1, 0.1, 0.6, 0.9 = 0.6; without them it
    # would be 0.8 and stop this trial), which still stops an ordinary trial below it.
    assert scheduler.on_trial_result(None, middling, result(1.0, 0.6)) == TrialScheduler.CONTINUE
    assert scheduler.on_trial_result(None, poor, result(1.0, 0.3)) == TrialScheduler.STOP
    assert scheduler.on_trial_result(None, seed_a, result(9.0, 0.5)) == TrialScheduler.STOP  # done at the top


def test_asha_with_a_group_key_cuts_each_method_against_its_own_trials_only() -> None:
    scheduler = SeedFirstASHA(time_attr=FIDELITY_KEY, metric="objective", mode="max", max_t=9,
                              grace_period=1, reduction_factor=3, group_key="method")
    strong = [Trial("fn", config={"params": {"method": "iso_c", "x": i}}, stub=True) for i in range(3)]
    weak = [Trial("fn", config={"params": {"method": "ties", "x": i}}, stub=True) for i in range(3)]
    for trial in (*strong, *weak):
        scheduler.on_trial_add(None, trial)
    result = lambda level, value: {FIDELITY_KEY: level, "objective": value}  # noqa: E731
    for trial, value in zip(strong, (0.9, 0.8, 0.85), strict=True):
        scheduler.on_trial_result(None, trial, result(1.0, value))
    # With shared rungs 0.5 would be far below the cut of 0.8-0.9 set by Iso-C; against TIES's own trials it is
    # the first score (no cut yet), then 0.4 falls below TIES's cut (2/3 percentile of 0.5, 0.4 = 0.4667) ...
    assert scheduler.on_trial_result(None, weak[0], result(1.0, 0.5)) == TrialScheduler.CONTINUE
    assert scheduler.on_trial_result(None, weak[1], result(1.0, 0.4)) == TrialScheduler.STOP
    # ... while 0.6 beats it (2/3 percentile of 0.5, 0.4, 0.6 = 0.5333).
    assert scheduler.on_trial_result(None, weak[2], result(1.0, 0.6)) == TrialScheduler.CONTINUE
    rungs = {milestone: recorded for milestone, recorded in scheduler.bracket_for("ties")._rungs}
    assert sorted(rungs[1]) == sorted(trial.trial_id for trial in weak)
    assert all(not recorded for _, recorded in scheduler._brackets[0]._rungs)  # nothing in the shared rungs


def test_asha_without_a_group_key_keeps_one_set_of_rungs() -> None:
    scheduler = SeedFirstASHA(time_attr=FIDELITY_KEY, metric="objective", mode="max", max_t=9,
                              grace_period=1, reduction_factor=3)
    trials = [Trial("fn", config={"params": {"method": name}}, stub=True) for name in ("iso_c", "ties", "ties")]
    for trial in trials:
        scheduler.on_trial_add(None, trial)
    result = lambda level, value: {FIDELITY_KEY: level, "objective": value}  # noqa: E731
    assert scheduler.on_trial_result(None, trials[0], result(1.0, 0.9)) == TrialScheduler.CONTINUE
    assert scheduler.on_trial_result(None, trials[1], result(1.0, 0.5)) == TrialScheduler.STOP


def test_trials_stopped_below_the_top_rung_are_pruned_not_complete() -> None:
    searcher = make_searcher()
    for trial_id in ("full", "stopped", "failed"):
        searcher.suggest(trial_id)
    first = {"objective": 0.5, FIDELITY_KEY: 1.0, "training_iteration": 1}
    searcher.on_trial_result("full", first)
    searcher.on_trial_complete("full", {"objective": 0.7, FIDELITY_KEY: 4.0, "training_iteration": 3})
    # ASHA stopped it at its first rung: Tune never forwarded that result to on_trial_result.
    searcher.on_trial_complete("stopped", {"objective": 0.2, FIDELITY_KEY: 1.0, "training_iteration": 1})
    searcher.on_trial_complete("failed", None, error=True)
    got = states(searcher)
    assert got == {0: TrialState.COMPLETE, 1: TrialState.PRUNED, 2: TrialState.FAIL}
    trials = searcher._ot_study.get_trials(deepcopy=False)
    assert trials[0].value == 0.7
    assert trials[1].intermediate_values == {1: 0.2}  # the rung score stays for TPE


def test_a_trial_the_study_already_finished_is_not_told_again() -> None:
    searcher = make_searcher()
    searcher.suggest("t")
    searcher.on_trial_complete("t", {"objective": 0.9, FIDELITY_KEY: 4.0, "training_iteration": 2})
    searcher._completed_trials.clear()  # as after a restore from an older experiment checkpoint
    searcher.on_trial_result("t", {"objective": 0.1, FIDELITY_KEY: 1.0, "training_iteration": 1})
    searcher.on_trial_complete("t", {"objective": 0.1, FIDELITY_KEY: 4.0, "training_iteration": 2})
    (trial,) = searcher._ot_study.get_trials(deepcopy=False)
    assert trial.state == TrialState.COMPLETE and trial.value == 0.9


def test_restore_keeps_the_study_and_fails_orphaned_running_trials(tmp_path: Path) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}")
    searcher = make_searcher(storage=storage, study_name="restore")
    searcher.suggest("a")
    checkpoint = tmp_path / "searcher.pkl"
    searcher.save(str(checkpoint))
    searcher.suggest("b")  # asked after the checkpoint: the restored searcher never heard of it
    restored = make_searcher(storage=optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}"),
                             study_name="restore")
    restored.restore(str(checkpoint))
    assert states(restored) == {0: TrialState.RUNNING, 1: TrialState.FAIL}
    restored.on_trial_complete("a", {"objective": 0.3, FIDELITY_KEY: 4.0, "training_iteration": 1})
    assert states(restored)[0] == TrialState.COMPLETE


def test_the_searcher_pickles() -> None:
    searcher = make_searcher()
    searcher.suggest("a")
    clone = pickle.loads(pickle.dumps(searcher.__dict__))
    assert clone["_max_level"] == 4.0 and "a" in clone["_ot_trials"]


def test_layout_on_cpus_leaves_room_for_each_workers_trial() -> None:
    layout = plan_layout({"CPU": 2.0}, n_experts=3, workers=2)
    assert (layout.workers, layout.worker_threads, layout.worker_gpus) == (2, 1, 0.0)
    assert layout.workers * (layout.worker_cpus + layout.trial_cpus) <= 2.0 + 1e-9
    assert layout.trial_cpus == TRIAL_CPUS and layout.expert_cpus == 0.0
    assert plan_layout({"CPU": 16.0}, n_experts=2).workers == 4  # one per 4 CPUs by default
    assert plan_layout({"CPU": 2.0}, n_experts=2).workers == 1
    with pytest.raises(UserError, match="needs at least 3 CPUs"):
        plan_layout({"CPU": 2.0}, n_experts=2, workers=3)


def test_layout_on_part_of_the_cpus_leaves_the_rest_to_another_search() -> None:
    layout = plan_layout({"CPU": 16.0}, n_experts=2, workers=2, cpus=4)
    assert (layout.workers, layout.worker_threads) == (2, 2)
    assert layout.workers * (layout.worker_cpus + layout.trial_cpus) <= 4.0 + 1e-9
    assert plan_layout({"CPU": 2.0}, n_experts=2, cpus=1).worker_cpus + TRIAL_CPUS <= 1.0 + 1e-9
    assert plan_layout({"CPU": 2.0}, n_experts=2, cpus=64) == plan_layout({"CPU": 2.0}, n_experts=2)  # capped
    with pytest.raises(UserError, match="--cpus"):
        plan_layout({"CPU": 2.0}, n_experts=2, cpus=0)


def test_layout_on_gpus_one_worker_per_gpu_and_fractional_experts() -> None:
    layout = plan_layout({"CPU": 16.0, "GPU": 2.0}, n_experts=5)
    assert layout.workers == 2 and layout.worker_gpus == 0.8
    # At most ceil(5 / 2) = 3 experts per GPU fit beside its worker.
    assert 3 * layout.expert_gpus + layout.worker_gpus <= 1.0 + 1e-9
    assert layout.worker_threads == 8
    shared = plan_layout({"CPU": 8.0, "GPU": 1.0}, n_experts=2, workers=2)
    assert shared.worker_gpus == 0.4  # two workers share the one GPU


def test_rungs_resolve_the_whole_split_and_drop_repeats() -> None:
    assert resolve_rungs([3, None], 12) == (3, 12)
    assert resolve_rungs([4, 16, None], 12) == (4, 12)
    assert resolve_rungs([None], 7) == (7,)
    assert fidelity_levels(3, 2) == (1.0, 2.0, 4.0)


def test_study_storage_uses_wal_survives_pickling_and_closes_cleanly(tmp_path: Path) -> None:
    from sqlalchemy import text

    from lors_search.search.storage import StudyStorage, close_study_storages

    storage = StudyStorage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(storage=storage, study_name="s")
    study.enqueue_trial({"x": 1.0})
    clone = pickle.loads(pickle.dumps(storage))  # what Tuner.restore does with the searcher's storage
    for engine in (storage.engine, clone.engine):
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert connection.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
    close_study_storages()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.db"]
    assert len(optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}").trials) == 1


class _FakeMapper:
    """The part of a space's ParamMapper the recorder uses: a trial's MergeParams -> its merge config."""

    def __init__(self, experts: list[str]) -> None:
        self.experts = experts

    def merge_config(self, params):
        from lors_search.merge_config import MergeConfig

        return MergeConfig.model_validate({"base": "/b", "experts": self.experts, **params.model_dump(exclude_none=True)})


def _scorer(*names: str):
    from lors_search.space import Scorer

    return Scorer(names=names, languages=("de",), tasks=("transcribe", "translate"), expert_of={"de": "de"})


def _merge(method: str, **params: float):
    """The MergeParams a searcher with the space's mapper puts in a trial's config."""
    from lors_search.merging import MergeParams

    return MergeParams.model_validate({"method": method, "params": params})


def test_recorder_rows_states_best_files_and_progress(tmp_path: Path, capsys) -> None:
    import json

    import yaml

    from lors_search.merge_config import MergeConfig
    from lors_search.search.recorder import RunRecorder

    recorder = RunRecorder(str(tmp_path), _FakeMapper(["/e/de"]), _scorer("normalized_performance"), max_level=2.0)
    cells = {"de/transcribe": {"wer": 0.2, "cer": 0.1, "n": 4}, "de/translate": {"bleu": 30.0, "chrf": 50.0, "n": 4}}
    result = {"objective": 0.8, "normalized_performance": 0.8, "n_per_language": 8, FIDELITY_KEY: 2.0,
              "merge_seconds": 0.1, "eval_seconds": 1.0, "trial_seconds": 1.2, "rows_decoded": 16, "cells": cells}
    config = {"optuna_trial": 0, "params": {"density": 0.3}, "merge": _merge("lors", density=0.3)}
    complete = recorder.build_record("t0", config, result, error=False)
    pruned = recorder.build_record("t1", {**config, "optuna_trial": 1}, {**result, FIDELITY_KEY: 1.0, "objective": 0.99},
                                   error=False)
    failed = recorder.build_record("t2", {**config, "optuna_trial": 2}, {}, error=True, retries=2)
    assert (complete.state, pruned.state, failed.state) == ("COMPLETE", "PRUNED", "FAIL")
    assert complete.cells["de/translate"]["bleu"] == 30.0 and complete.params == {"density": 0.3}
    assert complete.to_row()["metric:de/translate:bleu"] == 30.0 and complete.to_row()["param:density"] == 0.3
    assert failed.objective is None and math.isnan(failed.to_row()["objective"]) and failed.retries == 2
    MergeConfig.model_validate(yaml.safe_load(complete.merge_config_yaml))
    for record in (complete, pruned, failed):
        recorder.add(record)
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["trial"] == 0 and best["objective"] == 0.8 and best["metrics"]["de/transcribe"]["wer"] == 0.2
    assert yaml.safe_load((tmp_path / "best.yaml").read_text())["params"] == {"density": 0.3}
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and "3 done (1 complete, 1 pruned, 1 failed)" in lines[-1]
    assert lines[0].endswith("best NEW #0 0.8000: de WER 20.0 %, de>en BLEU 30.0")  # no objective: WER
    from lors_search.search.recorder import format_cells

    assert format_cells(cells, "cer") == "de CER 10.0 %, de>en BLEU 30.0"  # the objective's ASR error, in %
    assert lines[-1].endswith("| best #0 0.8000")  # per-language scores only when the best changes
    clone = pickle.loads(pickle.dumps(recorder))  # Tune pickles callbacks with the experiment
    assert clone._table is None and clone.table.counts() == {"COMPLETE": 1, "PRUNED": 1, "FAIL": 1}


def test_recorder_counts_towards_the_budget_and_estimates_the_time_left(tmp_path: Path, capsys, monkeypatch) -> None:
    from lors_search.search import recorder as recorder_module
    from lors_search.search.recorder import RunRecorder

    now = [100.0]  # created at 100 s; the trials finish 10 s apart
    monkeypatch.setattr(recorder_module.time, "monotonic", lambda: now[0])
    recorder = RunRecorder(str(tmp_path), _FakeMapper(["/e/de"]), _scorer("normalized_performance"), max_level=2.0,
                           budget=5)
    cells = {"de/transcribe": {"wer": 0.2, "cer": 0.1, "n": 4}}
    for number in range(3):
        now[0] += 10.0
        result = {"objective": 0.5, "normalized_performance": 0.5, "n_per_language": 8, FIDELITY_KEY: 2.0,
                  "cells": cells}
        recorder.add(recorder.build_record(f"t{number}", {"optuna_trial": number, "params": {"density": 0.3}},
                                           result, error=False))
    lines = capsys.readouterr().out.strip().splitlines()
    assert "| 1/5 done (1 complete, 0 pruned, 0 failed) |" in lines[0]  # no estimate from one trial
    assert "| 2/5 done (2 complete, 0 pruned, 0 failed), ~30 s left |" in lines[1]  # 20 s / 2 trials x 3
    assert "| 3/5 done (3 complete, 0 pruned, 0 failed), ~20 s left |" in lines[2]  # 30 s / 3 trials x 2


def _methods_config(number: int, method: str, **params: float) -> dict:
    """A trial config of a methods search, as the space that wrote tests/rundir/data/trials-6a9f566.parquet."""
    return {"optuna_trial": number, "params": {"method": method, **params}, "merge": _merge(method, **params)}


def test_recorder_writes_the_trials_parquet_the_code_before_rundir_wrote(tmp_path: Path) -> None:
    """The same Tune results as the old writer got (commit 6a9f566) -> the same table, column for column."""
    import dataclasses

    import pandas as pd

    from lors_search.search.recorder import RunRecorder

    # Two objectives and a method choice.
    recorder = RunRecorder(str(tmp_path), _FakeMapper(["de=/e/de", "es=/e/es"]), _scorer("normalized_performance", "asr_wer"),
                           max_level=2.0, echo=False)

    def cells(wer: float, bleu: float) -> dict:
        return {"de/transcribe": {"wer": wer, "cer": wer / 2, "n": 4}, "de/translate": {"bleu": bleu, "chrf": 2 * bleu, "n": 4},
                "es/transcribe": {"wer": wer + 0.1, "cer": wer / 3, "n": 4},
                "es/translate": {"bleu": bleu + 1, "chrf": 2 * bleu + 1, "n": 4}}

    def result(objective: float, wer: float, level: float, n: int, trial_cells: dict) -> dict:
        return {"objective": objective, "normalized_performance": objective, "asr_wer": wer, "n_per_language": n,
                FIDELITY_KEY: level, "merge_seconds": 0.25, "eval_seconds": 1.5, "trial_seconds": 2.0,
                "rows_decoded": 16, "cells": trial_cells}

    records = [
        recorder.build_record("t0", _methods_config(0, "lors", density=0.2, rank_ratio=0.01, scale=0.5),
                              result(0.75, 0.3, 2.0, 8, cells(0.3, 20.0)), error=False),
        recorder.build_record("t1", _methods_config(1, "ties", density=0.4, scale=1.0),
                              result(0.9, 0.2, 1.0, 4, cells(0.2, 25.0)), error=False),
        recorder.build_record("t2", _methods_config(2, "lors", density=0.3, rank_ratio=0.02, scale=0.7),
                              result(0.8, 0.25, 2.0, 8, cells(0.25, 22.0)), error=False),
        recorder.build_record("t3", _methods_config(3, "ties", density=0.5, scale=0.9), {},
                              error=True, retries=1),
        recorder.build_record("t4", _methods_config(4, "lors", density=0.1, rank_ratio=0.03, scale=0.6),
                              result(0.8, 0.27, 2.0, 8, cells(0.27, 21.0)), error=False),
    ]
    for i, record in enumerate(records):
        recorder.add(dataclasses.replace(record, finished_at=f"2026-11-29T16:0{i}:00+00:00"))
    old = Path(__file__).parents[1] / "rundir" / "data"
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "trials.parquet"), pd.read_parquet(old / "trials-6a9f566.parquet"))
    assert (tmp_path / "best.json").read_text() == (old / "best-6a9f566.json").read_text()


def test_recorder_keeps_what_is_on_disk_when_the_run_directory_cannot_be_written(tmp_path: Path) -> None:
    """A failed write of trials.parquet: the record is forgotten (a resumed run runs it again), the earlier rows
    stay on disk, and one line in `write_error` ends the experiment (RecorderStopper)."""
    from lors_search.rundir import TrialRecord, TrialTable
    from lors_search.search.recorder import RecorderStopper, RunRecorder

    run_root = tmp_path / "run"
    recorder = RunRecorder(str(run_root), _FakeMapper(["/e/de"]), _scorer("normalized_performance"), max_level=2.0,
                           echo=False)
    first = TrialRecord(number=0, state="PRUNED", objective=0.5, objectives={"normalized_performance": 0.5},
                        n_per_language=4)
    recorder.add(first)
    (run_root / "trials.parquet").unlink()
    (run_root / "trials.parquet").mkdir()  # os.replace onto a directory fails like a read-only run directory
    recorder.add(TrialRecord(number=1, state="PRUNED", objective=0.6, objectives={"normalized_performance": 0.6},
                             n_per_language=4))
    assert recorder.write_error is not None
    assert recorder.write_error.startswith(f"cannot write {run_root / 'trials.parquet'}")
    assert sorted(recorder.table.records) == [0] and RecorderStopper(recorder).stop_all()
    (run_root / "trials.parquet").rmdir()
    recorder.table.write()
    assert list(TrialTable(run_root / "trials.parquet").records.values()) == [first]


def test_background_recorder_writes_the_same_files_and_keeps_what_is_on_disk_on_a_failed_write(tmp_path: Path) -> None:
    """The search's recorder writes from a thread: after flush() the same trials.parquet and best.* as the
    synchronous recorder; a failed write sets write_error and forgets the rows not on disk."""
    import dataclasses
    import json

    from lors_search.rundir import TrialRecord, TrialTable
    from lors_search.search.recorder import RecorderStopper, RunRecorder

    def recorder(root: Path, background: bool) -> RunRecorder:
        return RunRecorder(str(root), _FakeMapper(["/e/de"]), _scorer("normalized_performance"), max_level=2.0,
                           echo=False, background=background)

    cells = {"de/transcribe": {"wer": 0.2, "cer": 0.1, "n": 4}}
    records = []
    for number, (objective, level) in enumerate([(0.5, 2.0), (0.7, 1.0), (0.6, 2.0), (0.9, 2.0), (0.8, 2.0)]):
        result = {"objective": objective, "normalized_performance": objective, "n_per_language": 8,
                  FIDELITY_KEY: level, "cells": cells}
        config = {"optuna_trial": number, "params": {"density": 0.1 * (number + 1)},
                  "merge": _merge("lors", density=0.1 * (number + 1))}
        records.append(recorder(tmp_path / "x", False).build_record(f"t{number}", config, result, error=False))
    sync, background = recorder(tmp_path / "sync", False), recorder(tmp_path / "bg", True)
    for record in records:
        sync.add(record)
        background.add(record)
    background.flush()
    for name in ("trials.parquet", "best.yaml", "best.json"):
        assert (tmp_path / "bg" / name).read_bytes() == (tmp_path / "sync" / name).read_bytes(), name
    assert json.loads((tmp_path / "bg" / "best.json").read_text())["trial"] == 3
    assert pickle.loads(pickle.dumps(background)).table.counts() == {"COMPLETE": 4, "PRUNED": 1, "FAIL": 0}

    run_root = tmp_path / "bg"
    (run_root / "trials.parquet").unlink()
    (run_root / "trials.parquet").mkdir()  # os.replace onto a directory fails like a read-only run directory
    late = TrialRecord(number=7, state="PRUNED", objective=0.6, objectives={"normalized_performance": 0.6},
                       n_per_language=4)
    background.add(late)
    background.flush()
    assert background.write_error is not None
    assert background.write_error.startswith(f"cannot write {run_root / 'trials.parquet'}")
    assert sorted(background.table.records) == [0, 1, 2, 3, 4] and RecorderStopper(background).stop_all()
    background.add(dataclasses.replace(late, number=8))  # the experiment is stopping: nothing more is recorded
    background.flush()
    assert sorted(background.table.records) == [0, 1, 2, 3, 4]
    (run_root / "trials.parquet").rmdir()
    background.table.write()
    assert sorted(TrialTable(run_root / "trials.parquet").records) == [0, 1, 2, 3, 4]
