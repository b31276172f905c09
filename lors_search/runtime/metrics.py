"""Custom search metrics for the Ray dashboard / Prometheus / Grafana, via `ray.util.metrics`.

Ray exports them with a `ray_` prefix (a Counter as `<name>_total`, a Histogram as `_bucket`, `_sum`,
`_count`); `cluster/grafana/lors_search_dashboard.json` plots exactly these names. API:
https://docs.ray.io/en/latest/ray-observability/user-guides/add-app-metrics.html

Measured on Ray 2.60 (tests/dashboard): metrics recorded in the driver process (the Tune driver's
callbacks) reach the node's metrics endpoint after one report interval (`metrics_report_interval_ms`,
10 s by default), no actor needed. A Gauge is kept while its process lives and ages out about
2 report intervals after the process exits; counters and histograms stay until the node stops.
A Histogram's `_sum` is an estimate (Ray rebuilds it from bucket midpoints); `_bucket` and `_count`
are exact.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Mapping
from typing import Any

from lors_search.rundir.records import STATES

logger = logging.getLogger(__name__)

# name -> description; Prometheus names get the `ray_` prefix.
COUNTERS: dict[str, str] = {
    "lors_trials_finished": "Trials that ended with a result (complete or pruned).",
    "lors_trials_pruned": "Trials stopped early at a low fidelity (ASHA).",
    "lors_trials_failed": "Trials that raised an error.",
}
GAUGES: dict[str, str] = {
    "lors_best_objective": "Best objective so far of the run.",
    "lors_trial_objective": "Objective of the latest finished trial.",
    "lors_trial_wer": "WER of the latest finished trial, per language (fraction).",
    "lors_trial_cer": "CER of the latest finished trial, per language (fraction).",
    "lors_trial_bleu": "BLEU of the latest finished trial, per source language (0-100).",
}
HISTOGRAMS: dict[str, tuple[str, tuple[float, ...]]] = {
    "lors_merge_seconds": (
        "Seconds to apply a trial's configuration to the resident model.",
        (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0, 120.0, 300.0),
    ),
    "lors_eval_seconds": (
        "Seconds to decode and score a trial's dev subset.",
        (0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0),
    ),
}
PER_LANGUAGE = ("lors_trial_wer", "lors_trial_cer", "lors_trial_bleu")
# Which cell metric feeds which per-language gauge: (task, cell metric key, gauge).
_CELL_GAUGES = (
    ("transcribe", "wer", "lors_trial_wer"),
    ("transcribe", "cer", "lors_trial_cer"),
    ("translate", "bleu", "lors_trial_bleu"),
)

_lock = threading.Lock()
_instruments: dict[str, Any] | None = None


def _ray_initialized() -> bool:
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a dependency
        return False
    return bool(ray.is_initialized())


def _get_instruments() -> dict[str, Any]:
    """One set of metric objects per process, shared by every TrialMetrics (the run is a tag)."""
    global _instruments
    with _lock:
        if _instruments is None:
            from ray.util.metrics import Counter, Gauge, Histogram

            made: dict[str, Any] = {}
            for name, description in COUNTERS.items():
                made[name] = Counter(name, description=description, tag_keys=("run",))
            for name, description in GAUGES.items():
                keys = ("run", "language") if name in PER_LANGUAGE else ("run",)
                made[name] = Gauge(name, description=description, tag_keys=keys)
            for name, (description, boundaries) in HISTOGRAMS.items():
                made[name] = Histogram(name, description=description, boundaries=list(boundaries), tag_keys=("run",))
            _instruments = made
        return _instruments


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


class TrialMetrics:
    """Publishes one run's search progress as Ray metrics, tagged `run=<run>`.

    Call from the Tune driver (e.g. a `tune.Callback`) or any Ray worker. Every method is a no-op
    while Ray is not initialised in this process, and never raises: metrics must not stop a search.
    """

    def __init__(self, run: str) -> None:
        self.run = str(run)
        self._warned = False

    @property
    def enabled(self) -> bool:
        """True when calls are recorded (Ray is initialised in this process)."""
        return _ray_initialized()

    def trial_finished(
        self,
        state: str,
        objective: float | None,
        cells: Mapping[str, Mapping[str, Any]] | None,
        merge_s: float | None,
        eval_s: float | None,
    ) -> None:
        """Record a finished trial.

        `state` is "COMPLETE", "PRUNED" (both count as finished; PRUNED also as pruned) or "FAIL".
        `cells` maps "<lang>/<task>" to its metrics (`wer`, `cer` for transcribe, `bleu` for translate);
        missing, None or non-finite values are skipped, as are `objective`, `merge_s`, `eval_s` when None.
        """
        state = str(state).upper()
        if state not in STATES:
            raise ValueError(f"unknown trial state {state!r}; expected one of {', '.join(STATES)}")
        if not self.enabled:
            return
        try:
            metrics = _get_instruments()
            tags = {"run": self.run}
            if state == "FAIL":
                metrics["lors_trials_failed"].inc(1, tags=tags)
            else:
                metrics["lors_trials_finished"].inc(1, tags=tags)
                if state == "PRUNED":
                    metrics["lors_trials_pruned"].inc(1, tags=tags)
            if (value := _finite(objective)) is not None:
                metrics["lors_trial_objective"].set(value, tags=tags)
            for key, cell in (cells or {}).items():
                language, _, task = str(key).partition("/")
                for cell_task, metric, gauge in _CELL_GAUGES:
                    if task == cell_task and (value := _finite(cell.get(metric))) is not None:
                        metrics[gauge].set(value, tags={"run": self.run, "language": language})
            if (seconds := _finite(merge_s)) is not None:
                metrics["lors_merge_seconds"].observe(seconds, tags=tags)
            if (seconds := _finite(eval_s)) is not None:
                metrics["lors_eval_seconds"].observe(seconds, tags=tags)
        except Exception as exc:  # noqa: BLE001 - metrics are best effort
            self._warn(exc)

    def best(self, value: float | None) -> None:
        """Record the best objective so far (call whenever it improves, or after every trial)."""
        if not self.enabled or (number := _finite(value)) is None:
            return
        try:
            _get_instruments()["lors_best_objective"].set(number, tags={"run": self.run})
        except Exception as exc:  # noqa: BLE001 - metrics are best effort
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            logger.warning("lors-search: could not record Ray metrics (%s); the search goes on without them", exc)
