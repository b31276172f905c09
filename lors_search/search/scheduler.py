"""ASHA that never stops the seed points.

The seeds (the paper's defaults, task arithmetic, any point the space lists) are the baselines a user asked to
see at full fidelity, and they are few. Async ASHA judges each rung result against the scores recorded at that
rung so far, so early on its cut is harsh and noisy: on the full demo it stopped task arithmetic at the 10-clip
rung with 0.611 because the only other score there was 0.616. Seeds are still recorded at every rung (their
scores set the cut for the trials after them); only the stop decision is overridden.
"""

from __future__ import annotations

from typing import Any

from ray.tune.schedulers import ASHAScheduler, TrialScheduler

SEED_KEY = "seed"  # set to True in the config of a trial that evaluates a seed point (FidelityOptunaSearch)


class SeedFirstASHA(ASHAScheduler):
    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        action = super().on_trial_result(tune_controller, trial, result)
        at_top = result.get(self._time_attr, 0) >= self._max_t
        if action == TrialScheduler.STOP and not at_top and trial.config.get(SEED_KEY):
            self._num_stopped -= 1
            return TrialScheduler.CONTINUE
        return action
