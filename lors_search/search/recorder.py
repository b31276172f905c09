"""The driver-side Tune callback: when a trial finishes (complete, stopped early, or failed) it releases the
trial's worker lease, turns Tune's last result into a `TrialRecord` and adds it to trials.parquet, rewrites
best.yaml/best.json when a full-fidelity trial beats the best (lors_search.rundir), updates the Ray metrics
(lors_search.runtime.metrics, when present) and prints one progress line.

It is pickled with Tune's experiment checkpoints (never read back: a resumed run starts a fresh experiment),
so it holds only plain values and reloads its table lazily.

The search's recorder (`make_recorder`) writes in the background: the record, the progress line and the next
trial's start do not wait for trials.parquet's rewrite and fsync (~20-30 ms per trial, on Tune's critical path
between one trial and the next). One writer thread writes the latest table (and best.* when the best changed),
in order, tens of milliseconds after the trial finished; `flush()` waits for it (the driver calls it when
Tune returns). A driver killed before a write lands loses that trial's row only; the study already holds
the trial, so a resumed run runs it again, as for a driver killed between Optuna's tell and the write.

When the run directory cannot be written (a full disk, a read-only directory) it keeps what is on disk
(every file is replaced atomically, so earlier rows stay), forgets the rows it could not write (the study
still holds the trials, so a resumed run runs them again), records one line in `write_error`, and
`RecorderStopper` ends the experiment; the driver reports the line.
"""

from __future__ import annotations

import math
import queue
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from ray.tune import Callback
from ray.tune.stopper import Stopper

from lors_search.merging.params import MergeParams
from lors_search.rundir import RunDir, TrialRecord, TrialTable, now, write_best
from lors_search.runtime.trial_call import unpacked
from lors_search.search.trainable import FIDELITY_KEY, MERGE_KEY
from lors_search.space import CompiledSpace, ParamMapper, Scorer


def merge_config_yaml(mapper: ParamMapper, params: MergeParams) -> str:
    """The MergeConfig YAML of a trial's MergeParams (what `lors-search merge --config` reads)."""
    config = mapper.merge_config(params)
    return yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), sort_keys=False)


def format_cells(cells: Mapping[str, Mapping[str, Any]], asr_error: str = "wer") -> str:
    """"de CER 12.3 %, de>en BLEU 45.6, ...": the ASR error the objective uses (a percentage) and BLEU (0-100)."""
    parts = []
    for cell in sorted(cells):
        metrics = cells[cell]
        if asr_error in metrics:
            parts.append(f"{cell.replace('/transcribe', '')} {asr_error.upper()} {100 * float(metrics[asr_error]):.1f} %")
        elif "bleu" in metrics:
            parts.append(f"{cell.replace('/translate', '')}>en BLEU {float(metrics['bleu']):.1f}")
    return ", ".join(parts)


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class RunRecorder(Callback):
    def __init__(
        self,
        run_root: str,
        mapper: ParamMapper,
        scorer: Scorer,
        max_level: float,
        echo: bool = True,
        budget: int | None = None,
        time_budget_s: float | None = None,
        namespace: str | None = None,
        background: bool = False,
    ) -> None:
        """`mapper` and `scorer`: the space's (a trial's merge config; its objectives). `budget`: the trials the
        run holds when finished (the progress lines then count towards it and estimate the time left from this
        session's pace, capped by `time_budget_s`). `namespace`: the Ray namespace of the session's lease pool.
        `background`: write the run directory from a writer thread (see the module's docstring)."""
        self.run_root = str(run_root)
        self.namespace = namespace
        self.mapper = mapper
        self.max_level = max_level
        self.echo = echo
        self.budget = budget
        self.time_budget_s = time_budget_s
        self._started = time.monotonic()
        self._done_before: int | None = None  # trials the run held when this session recorded its first
        self.objective_names = list(scorer.names)
        self.mode = scorer.modes[0]
        self.asr_error = scorer.asr_error
        self._table: TrialTable | None = None
        self._metrics: Any = None
        self._best: float | None = None
        self.write_error: str | None = None
        self.background = background
        self._writer: _Writer | None = None
        self._pool: Any = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_table=None, _metrics=None, _best=None, _writer=None, _pool=None)
        return state

    # ---- Tune hooks -------------------------------------------------------------------------------------

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.record(trial, error=False)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.record(trial, error=True)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.flush()

    # ---- recording --------------------------------------------------------------------------------------

    @property
    def table(self) -> TrialTable:
        if self._table is None:
            run_dir = RunDir(Path(self.run_root))
            self._table = TrialTable(run_dir.trials_parquet)
            best = self._table.best(self.mode)
            self._best = None if best is None else best.objective
            if self._best is not None:  # a resumed run: the best gauge starts from the recorded best
                self._publish_best(self._best)
        return self._table

    def _metrics_sink(self) -> Any:
        if self._metrics is None:
            from lors_search.runtime.metrics import TrialMetrics

            self._metrics = TrialMetrics(Path(self.run_root).name)
        return self._metrics

    def _publish_best(self, value: float) -> None:
        try:
            sink = self._metrics_sink()
            if sink is not None:
                sink.best(value)
        except Exception:  # noqa: BLE001 - metrics are best effort
            pass

    def _release(self, trial_id: str) -> None:
        try:
            import ray

            from lors_search.runtime.names import POOL_NAME

            if self._pool is None:  # looked up once: the handle stays valid across the pool's restarts
                self._pool = ray.get_actor(POOL_NAME, namespace=self.namespace)
            self._pool.release.remote(trial_id)
        except Exception:  # noqa: BLE001 - no pool (tests of the recorder alone) or it is restarting
            self._pool = None

    def build_record(
        self, trial_id: str, config: Mapping[str, Any], result: Mapping[str, Any], error: bool, retries: int = 0
    ) -> TrialRecord:
        """The record of a finished trial from its Tune config ({"optuna_trial", "params", "merge"}) and last
        result; its merge config is the MergeParams the trial was merged with."""
        level = result.get(FIDELITY_KEY)
        if error:
            state = "FAIL"
        elif level is not None and level >= self.max_level:
            state = "COMPLETE"
        else:
            state = "PRUNED"
        params = dict(config.get("params") or {})
        merge = unpacked(config.get(MERGE_KEY))
        scored = {} if state == "FAIL" else result
        try:
            merge_config = merge_config_yaml(self.mapper, merge) if merge is not None else ""
        except Exception as exc:  # noqa: BLE001 - a broken config must not lose the record
            merge_config = f"# could not build the merge config: {exc}\n"
        return TrialRecord(
            number=int(config.get("optuna_trial", -1)),
            state=state,
            objective=_float(scored.get("objective")),
            objectives={name: _float(scored.get(name)) for name in self.objective_names},
            n_per_language=result.get("n_per_language"),
            params=params,
            cells={cell: dict(metrics) for cell, metrics in sorted((result.get("cells") or {}).items())},
            merge_config_yaml=merge_config,
            tune_trial_id=trial_id,
            merge_seconds=_float(result.get("merge_seconds")),
            eval_seconds=_float(result.get("eval_seconds")),
            trial_seconds=_float(result.get("trial_seconds")),
            rows_decoded=result.get("rows_decoded"),
            retries=retries,
            finished_at=now(),
        )

    def record(self, trial: Any, error: bool) -> TrialRecord:
        self._release(trial.trial_id)
        retries = int(getattr(trial, "num_failures", 0) or 0)
        return self.add(self.build_record(trial.trial_id, trial.config or {}, trial.last_result or {}, error, retries))

    def add(self, record: TrialRecord) -> TrialRecord:
        if self.write_error is not None:
            return record  # the experiment is stopping: nothing more is recorded
        table = self.table
        before = table.best(self.mode)
        if self.background:
            added = record.number not in table
            if added:
                table.records[record.number] = record  # on disk once the writer has written this snapshot
        else:
            try:
                added = table.add(record)  # on a failed write the table forgets it: a resumed run runs it again
            except OSError as exc:
                self._failed(table.path, exc)
                return record
        improved = False
        best = None
        if added and record.state == "COMPLETE":
            best = table.best(self.mode)  # ties go to the lower trial number, in best.* as in the progress lines
            improved = best is not None and (before is None or best.number != before.number)
            if improved:
                self._best = best.objective
                if not self.background:
                    try:
                        write_best(RunDir(Path(self.run_root)), best)
                    except OSError as exc:
                        self._failed(RunDir(Path(self.run_root)).best_yaml, exc)
        if added and self.background:
            if self._writer is None:
                self._writer = _Writer(self)
            self._writer.submit(dict(table.records), best if improved else None)
        if added:
            self._observe(record, improved)
            if self.echo:
                print(self.progress_line(record, improved), file=sys.stdout, flush=True)
        return record

    def _failed(self, path: Path, exc: OSError) -> None:
        reason = exc.strerror or str(exc)
        self.write_error = f"cannot write {path}: {reason}; the trials recorded before are kept, resume once it is writable"

    def flush(self) -> None:
        """Wait until the background writer has written every record added so far; after a failed write, forget
        the records that are not on disk (a resumed run runs them again)."""
        writer = self._writer
        if writer is None:
            return
        writer.wait()
        if writer.lost and self._table is not None:
            for number in writer.lost:
                self._table.records.pop(number, None)
            writer.lost.clear()

    def _observe(self, record: TrialRecord, improved: bool) -> None:
        try:
            sink = self._metrics_sink()
            if sink is None:
                return
            objective = record.objective if record.objective is not None and math.isfinite(record.objective) else None
            sink.trial_finished(record.state, objective, record.cells, record.merge_seconds, record.eval_seconds)
            if improved:
                sink.best(record.objective)
        except Exception:  # noqa: BLE001 - metrics are best effort
            pass

    def progress_line(self, record: TrialRecord, improved: bool) -> str:
        counts = self.table.counts()
        done = sum(counts.values())
        value = record.objective
        shown = f"{value:.4f}" if value is not None and math.isfinite(value) else "-"
        head = (
            f"trial {record.number:>3} {record.state:<8} {self.objective_names[0]} {shown}"
            f" @{record.n_per_language}/lang"
        )
        of = f"/{self.budget}" if self.budget else ""
        tally = f"{done}{of} done ({counts['COMPLETE']} complete, {counts['PRUNED']} pruned, {counts['FAIL']} failed)"
        tally += self._time_left(done)
        best = self.table.best(self.mode)
        if best is None:
            tail = "best: none yet"
        else:
            tail = f"best{' NEW' if improved else ''} #{best.number} {best.objective:.4f}"
            if improved:  # per-language scores only when the best changes: on every line they buried the tally
                tail += f": {format_cells(best.cells, self.asr_error)}"
        return f"{head} | {tally} | {tail}"


    def _time_left(self, done: int) -> str:
        """", ~2 min 10 s left": this session's seconds per trial times the trials still to run (from its second
        trial on; the time budget caps it)."""
        if self._done_before is None:
            self._done_before = done - 1
        ran = done - self._done_before
        if not self.budget or ran < 2 or done >= self.budget:
            return ""
        elapsed = time.monotonic() - self._started
        left = elapsed / ran * (self.budget - done)
        if self.time_budget_s:
            left = min(left, max(0.0, float(self.time_budget_s) - elapsed))
        return f", ~{_clock(left)} left"


def make_recorder(
    run_dir: RunDir, space: CompiledSpace, max_level: float, echo: bool = True, budget: int | None = None,
    namespace: str | None = None,
) -> RunRecorder:
    """The search's recorder: it writes in the background (call `flush()` when Tune returns)."""
    return RunRecorder(
        str(run_dir.root.resolve()), space.mapper, space.scorer, max_level, echo, budget, space.space.budget.time_budget_s,
        namespace, background=True,
    )


class _Writer:
    """The recorder's writer thread: writes the newest submitted table snapshot to trials.parquet, then best.*
    when a snapshot carried a new best. Snapshots that queued up while it wrote are folded into one write (the
    newest table holds every older row). After a failed write it sets the recorder's `write_error`, lists the
    trials that are not on disk in `lost` and writes nothing more."""

    def __init__(self, recorder: RunRecorder) -> None:
        self.recorder = recorder
        self.lost: set[int] = set()
        self._on_disk: set[int] = set(recorder.table.records)  # what trials.parquet held when the writer started
        self._jobs: queue.Queue[tuple[dict[int, TrialRecord], TrialRecord | None]] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="lors-recorder-writer", daemon=True)
        self._thread.start()

    def submit(self, records: dict[int, TrialRecord], best: TrialRecord | None) -> None:
        self._jobs.put((records, best))

    def wait(self) -> None:
        self._jobs.join()

    def _loop(self) -> None:
        while True:
            jobs = [self._jobs.get()]
            while True:
                try:
                    jobs.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            try:
                records = jobs[-1][0]
                bests = [best for _, best in jobs if best is not None]
                self._write(records, bests[-1] if bests else None)
            finally:
                for _ in jobs:
                    self._jobs.task_done()

    def _write(self, records: dict[int, TrialRecord], best: TrialRecord | None) -> None:
        recorder = self.recorder
        if recorder.write_error is not None:
            self.lost.update(n for n in records if n not in self._on_disk)
            return
        run_dir = RunDir(Path(recorder.run_root))
        table = TrialTable(run_dir.trials_parquet, records)  # a snapshot: the recorder's table grows meanwhile
        try:
            table.write()
        except OSError as exc:
            recorder._failed(table.path, exc)
            self.lost.update(n for n in records if n not in self._on_disk)
            return
        self._on_disk = set(records)
        if best is not None:
            try:
                write_best(run_dir, best)
            except OSError as exc:
                recorder._failed(run_dir.best_yaml, exc)


def _float(value: Any) -> float | None:
    """A result's number as the record keeps it: None when missing or NaN (what trials.parquet reads back)."""
    if value is None or math.isnan(float(value)):
        return None
    return float(value)


class RecorderStopper(Stopper):
    """Ends the experiment once the recorder could not write the run directory (Tune asks after each step)."""

    def __init__(self, recorder: RunRecorder) -> None:
        self.recorder = recorder

    def __call__(self, trial_id: str, result: dict) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.recorder.write_error is not None



