"""An Optuna sampler whose randomness is a function of (seed, trial number), so a search resumed after a
crash asks the same parameters as an uninterrupted one.

A seeded TPESampler draws from one random stream that advances with every trial: a resumed driver starts a
new sampler, whose stream restarts at the beginning, and trial N would get the draws of trial 0. Here each
trial gets a fresh inner sampler seeded from `SeedSequence([seed, number])` in `before_trial` (Optuna calls
it in `study.ask()` before any sampling). What the inner samplers learn comes from the study itself (TPE,
random, NSGA-II and CMA-ES keep their model in the study's trials and system attributes), so nothing else
is lost by starting one per trial. Given the same finished trials, trial N's parameters are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState


def trial_seed(seed: int, number: int) -> int:
    """The inner sampler's seed for trial `number` (independent streams per trial)."""
    return int(np.random.SeedSequence([int(seed), int(number)]).generate_state(1)[0])


class TrialSeededSampler(BaseSampler):
    """Delegates to `searcher.model_copy(update={"seed": trial_seed(...)}).optuna_sampler()`, one per trial.

    `searcher` is the space's validated `Searcher` (pydantic, picklable: Ray Tune checkpoints the searcher
    that holds this sampler); anything with `.seed`, `.model_copy(update=...)` and `.optuna_sampler()` does.
    """

    def __init__(self, searcher: Any) -> None:
        self._searcher = searcher
        self._inner: BaseSampler = self._make(0)

    def _make(self, number: int) -> BaseSampler:
        seeded = self._searcher.model_copy(update={"seed": trial_seed(self._searcher.seed, number)})
        return seeded.optuna_sampler()

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._inner = self._make(trial.number)
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(
        self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self._inner.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._inner.reseed_rng()

