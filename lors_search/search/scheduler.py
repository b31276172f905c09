"""ASHA that never stops the seed points and, in a methods search, compares trials within their method only.

The seeds (the paper's defaults, task arithmetic, any point the space lists) are the baselines a user asked to
see at full fidelity, and they are few. Async ASHA judges each rung result against the scores recorded at that
rung so far, so early on its cut is harsh and noisy: on the full demo it stopped task arithmetic at the 10-clip
rung with 0.611 because the only other score there was 0.616. Seeds are still recorded at every rung (their
scores set the cut for the trials after them); only the stop decision is overridden.

With several merge methods in one search, one set of rungs lets the method that is ahead early set every cut:
on the full demo (150 trials) Iso-C's scores at 10 clips stopped every non-seed trial of the six other methods
there, so none of them was searched at all. `group_key` (the space's `method` parameter) gives each method its
own rungs: within a method ASHA prunes as usual, across methods the sampler (TPE's model of `method`) decides
where the budget goes, and the honest selection step compares the methods' best trials on held-out clips.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ray.tune.schedulers import ASHAScheduler, TrialScheduler

# Ray 2.60's rung bookkeeping (one `_Bracket` per bracket, rungs as (milestone, {trial id: score})); private,
# pinned with Ray in pyproject.toml, and covered by tests/search that fail if its shape changes.
from ray.tune.schedulers.async_hyperband import _Bracket

SEED_KEY = "seed"  # set to True in the config of a trial that evaluates a seed point (FidelityOptunaSearch)
PARAMS_KEY = "params"  # the trial config's flat Optuna parameters (FidelityOptunaSearch)


class SeedFirstASHA(ASHAScheduler):
    def __init__(
        self,
        *,
        grace_period: float,
        max_t: float,
        reduction_factor: float,
        group_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(grace_period=grace_period, max_t=max_t, reduction_factor=reduction_factor, **kwargs)
        self._group_key = group_key
        self._bracket_shape = (grace_period, max_t, reduction_factor)
        self._group_brackets: dict[str, _Bracket] = {}

    def group_of(self, params: Mapping[str, Any]) -> str | None:
        """The rung group of a trial with these flat parameters (None: the shared rungs)."""
        if self._group_key is None or params.get(self._group_key) is None:
            return None
        return str(params[self._group_key])

    def bracket_for(self, group: str | None) -> _Bracket:
        if group is None:
            return self._brackets[0]
        if group not in self._group_brackets:
            grace, max_t, factor = self._bracket_shape
            self._group_brackets[group] = _Bracket(grace, max_t, factor, 0)
        return self._group_brackets[group]

    def on_trial_add(self, tune_controller: Any, trial: Any) -> None:
        super().on_trial_add(tune_controller, trial)  # validates metric and mode, assigns the shared bracket
        group = self.group_of(trial.config.get(PARAMS_KEY) or {})
        if group is not None:
            self._trial_info[trial.trial_id] = self.bracket_for(group)

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        action = super().on_trial_result(tune_controller, trial, result)
        at_top = result.get(self._time_attr, 0) >= self._max_t
        if action == TrialScheduler.STOP and not at_top and trial.config.get(SEED_KEY):
            self._num_stopped -= 1
            return TrialScheduler.CONTINUE
        return action
