"""OptunaSearch for multi-fidelity trials (Ray Tune 2.60, Optuna 5.0).

Out of the box OptunaSearch tells Optuna COMPLETE with the low-fidelity score of a trial that ASHA stopped
early, mixing subset scores into the sampler's model. `FidelityOptunaSearch` tells PRUNED for a trial whose
last result is below the top fidelity level (its rung scores stay as intermediate values), hands each Tune
trial its Optuna trial number, flat parameters and the MergeParams they map to (built once, here), never
re-tells a trial the study already finished (a resumed run re-runs trials finished after the last experiment
checkpoint), and on restore marks trials the study still holds as RUNNING but the restored searcher never
heard of (asked after that checkpoint) FAIL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune.result import TRAINING_ITERATION
from ray.tune.search.optuna import OptunaSearch

from lors_search.merging.params import MergeParams
from lors_search.search.scheduler import SEED_KEY
from lors_search.runtime.trial_call import Packed
from lors_search.search.trainable import FIDELITY_KEY, MERGE_KEY

__all__ = ["FIDELITY_KEY", "MERGE_KEY", "FidelityOptunaSearch"]

logger = logging.getLogger(__name__)


class FidelityOptunaSearch(OptunaSearch):
    """OptunaSearch whose trials below `max_level` of `fidelity_key` end as PRUNED.

    Each suggested config is `{"optuna_trial": number, "params": {flat Optuna params}}`, plus `"seed": True`
    for a seed point (from `points_to_evaluate`) and, given `to_params` (the space's `ParamMapper`),
    `"merge": Packed(MergeParams)` (the trial process forwards it to its worker without importing the class).
    """

    def __init__(
        self,
        *args: Any,
        max_level: float = 1,
        fidelity_key: str = FIDELITY_KEY,
        to_params: Callable[[Mapping[str, Any]], MergeParams] | None = None,
        **kwargs: Any,
    ) -> None:
        self._max_level = max_level
        self._fidelity_key = fidelity_key
        self._to_params = to_params
        super().__init__(*args, **kwargs)

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config = super().suggest(trial_id)
        if not isinstance(config, dict):
            return config
        ot_trial = self._ot_trials[trial_id]
        suggested: dict[str, Any] = {"optuna_trial": ot_trial.number, "params": dict(ot_trial.params)}
        if self._is_enqueued(ot_trial):
            suggested[SEED_KEY] = True  # a seed point: SeedFirstASHA runs it to full fidelity
        if self._to_params is not None:
            suggested[MERGE_KEY] = Packed(self._to_params(suggested["params"]))
        return suggested

    def _is_enqueued(self, ot_trial: optuna.Trial) -> bool:
        """Whether the trial came from `points_to_evaluate` (Optuna marks enqueued trials `fixed_params`)."""
        frozen = self._stored(ot_trial)
        return frozen is not None and "fixed_params" in frozen.system_attrs

    def _stored(self, ot_trial: optuna.Trial) -> optuna.trial.FrozenTrial | None:
        """The trial as the study's storage holds it; None on a storage hiccup, which must not stop the search
        (the callers then treat it as unfinished and not a seed)."""
        try:
            return self._ot_study._storage.get_trial(ot_trial._trial_id)
        except Exception:  # noqa: BLE001
            return None

    def _finished_in_study(self, ot_trial: optuna.Trial) -> bool:
        frozen = self._stored(ot_trial)
        return frozen is not None and frozen.state.is_finished()

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or self._finished_in_study(ot_trial):
            return
        try:
            super().on_trial_result(trial_id, result)
        except Exception as exc:  # noqa: BLE001 - e.g. NaN; the trial goes on
            logger.warning("optuna report failed for %s: %s", trial_id, exc)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        if ot_trial is None or trial_id in self._completed_trials:
            return super().on_trial_complete(trial_id, result, error) if ot_trial is not None else None
        if self._finished_in_study(ot_trial):
            self._completed_trials.add(trial_id)
            return None
        level = (result or {}).get(self._fidelity_key)
        if not error and result and level is not None and level < self._max_level:
            if not isinstance(self.metric, list) and result.get(self.metric) is not None:
                try:  # the result that triggered the stop never reached on_trial_result
                    ot_trial.report(float(result[self.metric]), int(result.get(TRAINING_ITERATION, 0)))
                except Exception:  # noqa: BLE001 - duplicate step: Optuna keeps the first
                    pass
            try:
                self._ot_study.tell(ot_trial, None, state=TrialState.PRUNED)
            except Exception as exc:  # noqa: BLE001
                logger.warning("optuna tell(PRUNED) failed for %s: %s", trial_id, exc)
            self._completed_trials.add(trial_id)
            return None
        return super().on_trial_complete(trial_id, result, error)

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        known = {ot_trial._trial_id for ot_trial in self._ot_trials.values()}
        for frozen in self._ot_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if frozen._trial_id not in known:
                try:
                    self._ot_study.tell(frozen.number, None, state=TrialState.FAIL)
                except Exception as exc:  # noqa: BLE001
                    logger.warning("could not close orphaned optuna trial %d: %s", frozen.number, exc)
