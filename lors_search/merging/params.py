"""Merge parameters as validated objects: global values plus ordered per-tensor / per-expert overrides.

What the merge YAML, the CLI flags and (later) the search space all produce; `plan.resolve_plan` turns it
into concrete numbers per (tensor, expert). Later overrides win over earlier ones and over the globals.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from lors_search.merging.method import Param
from lors_search.merging.registry import PARAMS, check_method_name, get_method
from lors_search.merging.tensor_names import KINDS

_CONFIG = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

StackName = Literal["encoder", "decoder"]
ModuleName = Literal["self_attn", "cross_attn", "ffn"]
KindName = Literal[KINDS]  # type: ignore[valid-type]


def check_one_rank_form(rank: object, rank_ratio: object) -> None:
    """A rank is given as an absolute rank or as a ratio of the matrix's smaller side, never both (merge
    parameters and search-space ranges alike)."""
    if rank is not None and rank_ratio is not None:
        raise ValueError("give either rank or rank_ratio, not both")


class _ParamValuesBase(BaseModel):
    """Values of the merge parameters; None means "not set here" (inherited or the method's default).

    One optional field per parameter any registered method declares, with the declared bounds and help
    (`registry.PARAMS`), so a new parameter in a method's file is a new field here without an edit.
    """

    model_config = _CONFIG

    @model_validator(mode="before")
    @classmethod
    def _accept_integers(cls, raw: Any) -> Any:
        # `density: 1` or `scale: 2` in YAML are valid numbers for float parameters; booleans are not.
        if not isinstance(raw, dict):
            return raw
        return {
            name: float(value)
            if name in PARAMS and PARAMS[name].type is float and isinstance(value, int) and not isinstance(value, bool)
            else value
            for name, value in raw.items()
        }

    @model_validator(mode="after")
    def _one_rank_form(self) -> _ParamValuesBase:
        check_one_rank_form(getattr(self, "rank", None), getattr(self, "rank_ratio", None))
        return self

    def given(self) -> dict[str, int | float]:
        """The parameters set here, by name."""
        return {name: value for name, value in self.model_dump().items() if value is not None}


def _field(param: Param) -> Any:
    bounds = {key: value for key, value in (("ge", param.low), ("le", param.high)) if value is not None}
    return (param.type | None, Field(None, description=param.help, **bounds))


ParamValues = create_model(  # type: ignore[call-overload]
    "ParamValues",
    __base__=_ParamValuesBase,
    __module__=__name__,
    **{name: _field(param) for name, param in PARAMS.items()},
)


def _as_tuple(value: Any) -> Any:
    return (value,) if isinstance(value, str) else value


class Selector(BaseModel):
    """Which (tensor, expert) pairs an override applies to; every given field must match (AND).

    layers: one index or an inclusive [first, last] range; tensors outside layers (embeddings, convs,
    final norms) never match a `layers` selector. module: self_attn, cross_attn or ffn (a block's
    pre-norm belongs to the block). kind: e.g. q_proj, fc1. tensor: a regex on the full name.
    """

    model_config = _CONFIG

    stack: StackName | None = None
    layers: int | tuple[int, int] | None = None
    module: tuple[ModuleName, ...] | None = None
    kind: tuple[KindName, ...] | None = None
    expert: tuple[str, ...] | None = None
    tensor: str | None = None

    @field_validator("module", "kind", "expert", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        value = _as_tuple(value)
        return tuple(value) if isinstance(value, list) else value

    @field_validator("layers", mode="before")
    @classmethod
    def _range_from_list(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("layers")
    @classmethod
    def _valid_layers(cls, value: int | tuple[int, int] | None) -> int | tuple[int, int] | None:
        if isinstance(value, int) and value < 0:
            raise ValueError(f"layer index must be >= 0, got {value}")
        if isinstance(value, tuple) and not 0 <= value[0] <= value[1]:
            raise ValueError(f"layer range must be [first, last] with 0 <= first <= last, got {list(value)}")
        return value

    @field_validator("tensor")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"tensor pattern {value!r} is not a valid regular expression: {exc}") from None
        return value

    def layer_range(self) -> tuple[int, int] | None:
        if self.layers is None:
            return None
        return (self.layers, self.layers) if isinstance(self.layers, int) else self.layers

    def describe(self) -> str:
        """Compact text of the given fields, for error messages."""
        given = {name: value for name, value in self.model_dump().items() if value is not None}
        return ", ".join(f"{name}={value}" for name, value in given.items()) or "everything"


class Override(BaseModel):
    """Set parameters for the (tensor, expert) pairs `select` picks."""

    model_config = _CONFIG

    select: Selector
    set: ParamValues  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _sets_something(self) -> Override:
        if not self.set.given():
            raise ValueError("an override must set at least one parameter")
        return self


class MergeParams(BaseModel):
    """A merge method with its global parameters and ordered overrides."""

    model_config = _CONFIG

    method: str
    params: ParamValues = ParamValues()  # type: ignore[valid-type]
    overrides: tuple[Override, ...] = ()

    @field_validator("overrides", mode="before")
    @classmethod
    def _list_to_tuple(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("method")
    @classmethod
    def _known_method(cls, name: str) -> str:
        return check_method_name(name)

    @model_validator(mode="after")
    def _params_fit_method(self) -> MergeParams:
        method = get_method(self.method)
        places = [("", self.params)] + [
            (f"overrides[{index}].set: ", override.set) for index, override in enumerate(self.overrides)
        ]
        for place, values in places:
            for name in values.given():
                if name not in method.param_names:
                    raise ValueError(
                        f"{place}method {self.method!r} takes no parameter {name!r} "
                        f"(it takes: {', '.join(method.param_names)})"
                    )
        return self
