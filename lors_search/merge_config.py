"""The merge config: which base and experts to merge, with which method and parameters (YAML schema).

`lors-search merge --config MERGE.yaml` reads it; the command's flags build the same object, and merged
checkpoints carry it as `merge_config.yaml`. Documented in docs/merge-config.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lors_search.errors import UserError
from lors_search.merging.params import MergeParams, ParamValues
from lors_search.merging.rules import DEFAULT_RULES, MergeRule

DType = Literal["float32", "float16", "bfloat16"]


def default_expert_name(source: str) -> str:
    """An expert's name from its path or Hub id: the last path component without `.pt`."""
    name = Path(source.rstrip("/\\")).name
    for suffix in (".pt", ".pth"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name or source


class ExpertSource(BaseModel):
    """One expert: a name (used by overrides and the model card) and where to load it from."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str = Field(min_length=1)
    path: str = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, value: Any) -> Any:
        # "PATH" or "NAME=PATH" as shorthand, in YAML as on the command line.
        if isinstance(value, str):
            name, sep, path = value.partition("=")
            if sep and name and path and os.sep not in name:
                return {"name": name, "path": path}
            return {"name": default_expert_name(value), "path": value}
        if isinstance(value, dict) and "path" in value and "name" not in value:
            return {"name": default_expert_name(str(value["path"])), **value}
        return value


class MergeConfig(MergeParams):
    """A complete merge: base, experts, method, parameters, overrides and (optionally) the merge rules.

    `rules` left out means the reference's rules (DEFAULT_RULES); given, they replace them entirely.
    `dtype` left out saves in the base's dtype.
    """

    base: str = Field(min_length=1)
    experts: tuple[ExpertSource, ...] = Field(min_length=1)
    rules: tuple[MergeRule, ...] | None = None
    dtype: DType | None = None

    @field_validator("experts", "rules", mode="before")
    @classmethod
    def _source_lists_to_tuples(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _unique_names(self) -> MergeConfig:
        names = [expert.name for expert in self.experts]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"two experts are named {duplicates[0]!r}; name them with NAME=PATH")
        return self

    def effective_rules(self) -> tuple[MergeRule, ...]:
        return self.rules if self.rules is not None else DEFAULT_RULES

    def merge_params(self) -> MergeParams:
        """The method, parameters and overrides alone (what `resolve_plan` takes)."""
        return MergeParams(method=self.method, params=self.params, overrides=self.overrides)


def describe_validation_error(exc: ValidationError) -> str:
    """One line from a pydantic error: `where: what` for each problem."""
    parts = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _resolve_relative(source: str, root: Path) -> str:
    """A relative path in a YAML file is relative to the file, when it exists there."""
    candidate = Path(source).expanduser()
    if candidate.is_absolute():
        return str(candidate)
    beside = root / candidate
    return str(beside.resolve()) if beside.exists() else source


def load_merge_config(path: str | os.PathLike[str]) -> MergeConfig:
    """Read and validate a merge YAML; UserError (one line) when unreadable or invalid."""
    file = Path(path)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read merge config {file}: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UserError(f"merge config {file} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(raw, dict):
        raise UserError(f"merge config {file} must be a YAML mapping (base, experts, method, ...)")
    try:
        config = MergeConfig.model_validate(raw)
    except ValidationError as exc:
        raise UserError(f"merge config {file}: {describe_validation_error(exc)}") from None
    return with_local_paths(config, file.resolve().parent)


def with_local_paths(config: MergeConfig, root: Path) -> MergeConfig:
    """The config with base and expert paths that exist under `root` made absolute (Hub ids untouched),
    so a saved copy still points at the same files from anywhere."""
    experts = tuple(
        ExpertSource(name=expert.name, path=_resolve_relative(expert.path, root)) for expert in config.experts
    )
    return config.model_copy(update={"base": _resolve_relative(config.base, root), "experts": experts})


def config_from_flags(
    *,
    base: str,
    experts: list[str],
    method: str,
    rank: int | None = None,
    rank_ratio: float | None = None,
    density: float | None = None,
    scale: float | None = None,
    seed: int | None = None,
    dtype: str | None = None,
) -> MergeConfig:
    """The MergeConfig the command-line flags describe (global parameters only)."""
    given = {
        name: value
        for name, value in (
            ("rank", rank),
            ("rank_ratio", rank_ratio),
            ("density", density),
            ("scale", scale),
            ("seed", seed),
        )
        if value is not None
    }
    try:
        return MergeConfig.model_validate(
            {"base": base, "experts": list(experts), "method": method, "params": given, "dtype": dtype}
        )
    except ValidationError as exc:
        message = describe_validation_error(exc)
        for name in ("rank_ratio", "rank", "density", "scale", "seed"):
            message = message.replace(f"params.{name}", "--" + name.replace("_", "-"))
        raise UserError(message) from None


__all__ = [
    "ExpertSource",
    "MergeConfig",
    "ParamValues",
    "config_from_flags",
    "default_expert_name",
    "describe_validation_error",
    "load_merge_config",
    "with_local_paths",
]
