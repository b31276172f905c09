"""The define-by-run Optuna space for `ray.tune.search.optuna.OptunaSearch(space=...)`: a module-level class
holding only plain frozen dataclasses, so standard pickle (Tune's searcher checkpoints) handles it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lors_search.space.parameters import ParamDef

if TYPE_CHECKING:
    import optuna


class SpaceSampler:
    """Suggests every sampled parameter of a space, in a fixed order, under its stable name."""

    def __init__(self, params: tuple[ParamDef, ...]) -> None:
        self.params = tuple(param for param in params if not param.fixed)

    @property
    def names(self) -> list[str]:
        return [param.name for param in self.params]

    def __call__(self, trial: optuna.Trial) -> None:
        for param in self.params:
            if param.is_int:
                trial.suggest_int(
                    param.name, int(param.low), int(param.high), step=int(param.step or 1), log=param.log
                )
            else:
                trial.suggest_float(param.name, param.low, param.high, step=param.step, log=param.log)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SpaceSampler) and self.params == other.params

    def __hash__(self) -> int:
        return hash(self.params)

    def __repr__(self) -> str:
        return f"SpaceSampler({len(self.params)} parameters)"


METHOD_PARAM = "method"  # the categorical parameter of a search over several methods


class MethodSampler:
    """The define-by-run space over several methods: `method` is a categorical parameter and only the chosen
    method's parameters (named `<method>/<name>`) are suggested, so TPE models each method's parameters
    conditionally on it. Plain data only, so it pickles like `SpaceSampler`."""

    def __init__(self, samplers: dict[str, SpaceSampler]) -> None:
        self.samplers = dict(samplers)

    @property
    def names(self) -> list[str]:
        return [METHOD_PARAM, *(name for sampler in self.samplers.values() for name in sampler.names)]

    def __call__(self, trial: optuna.Trial) -> None:
        method = trial.suggest_categorical(METHOD_PARAM, list(self.samplers))
        self.samplers[str(method)](trial)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MethodSampler) and self.samplers == other.samplers

    def __hash__(self) -> int:
        return hash(tuple(self.samplers.items()))

    def __repr__(self) -> str:
        return f"MethodSampler({', '.join(self.samplers)})"
