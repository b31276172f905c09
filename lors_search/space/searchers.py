"""Optuna samplers for the `searcher` section: TPE (default; constant liar for parallel trials), CMA-ES,
random, NSGA-II (multi-objective). Seeded, so a search is reproducible given the order of results.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

    from lors_search.space.schema import Searcher


def make_sampler(searcher: Searcher) -> optuna.samplers.BaseSampler:
    import optuna

    startup = {} if searcher.n_startup_trials is None else {"n_startup_trials": searcher.n_startup_trials}
    if searcher.algorithm == "tpe":
        return optuna.samplers.TPESampler(seed=searcher.seed, constant_liar=True, **startup)
    if searcher.algorithm == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=searcher.seed, **startup)
    if searcher.algorithm == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=searcher.seed)
    return optuna.samplers.RandomSampler(seed=searcher.seed)
