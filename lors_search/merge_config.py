"""The merge config: which base and experts to merge, with which method and parameters (YAML schema).

`lors-search merge --config MERGE.yaml` reads it; the command's flags build the same object, and merged
checkpoints carry it as `merge_config.yaml`. Documented in docs/merge-config.md. Methods that read the
experts' layer inputs (RegMean, Jin et al., arXiv 2212.09849) also name the corpus whose train split gives
them (`gram_data`) and each expert's language.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lors_search.errors import UserError
from lors_search.merging.params import MergeParams, ParamValues
from lors_search.merging.rules import DEFAULT_RULES, MergeRule

if TYPE_CHECKING:
    from lors_search.whisper.gram import GramSource

DType = Literal["float32", "float16", "bfloat16"]
DEFAULT_GRAM_CLIPS = 64  # per expert (lors_search.whisper.gram.DEFAULT_CLIPS, not imported: it pulls numpy/torch)


def default_expert_name(source: str) -> str:
    """An expert's name from its path or Hub id: the last path component without `.pt`."""
    name = Path(source.rstrip("/\\")).name
    for suffix in (".pt", ".pth"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name or source


class ExpertSource(BaseModel):
    """One expert: a name (used by overrides and the model card), where to load it from and, optionally, its
    language (whose train clips give its RegMean Grams; left out, the name when it is a language of the data)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str = Field(min_length=1)
    path: str = Field(min_length=1)
    language: str | None = Field(None, min_length=1)

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
    `dtype` left out saves in the base's dtype. `gram_data`: a corpus directory (save_to_disk, with a train
    split) whose clips give each expert's Gram matrices, for methods that need them (regmean); `gram_clips`
    train clips per expert (left out: 64), `gram_subset` only rows of that `subset` value (left out: "expert" where the
    corpus tags its experts' own clips so, as the embedded benchmark does, else every clip of the language).
    """

    base: str = Field(min_length=1)
    experts: tuple[ExpertSource, ...] = Field(min_length=1)
    rules: tuple[MergeRule, ...] | None = None
    dtype: DType | None = None
    gram_data: str | None = Field(None, min_length=1)
    gram_clips: int | None = Field(None, ge=1)
    gram_subset: str | None = Field(None, min_length=1)

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

    @property
    def needs_grams(self) -> bool:
        from lors_search.merging.registry import methods_need

        return methods_need([self.method], "gram")


def gram_sources(
    config: MergeConfig, cache_dir: str | os.PathLike[str] | None = None
) -> tuple[MergeConfig, dict[str, GramSource]]:
    """Each expert's Gram source for a method that needs them (RegMean), and the config with what was resolved
    written in (every expert's language, the subset), so that the copy saved with the merge reproduces it.

    `cache_dir`: where Grams are cached (None: <gram_data>/grams/ when writable, else no cache). UserError
    (one line) when `gram_data` is missing or is no corpus with a train split, or an expert's language is
    neither given nor its name.
    """
    from lors_search.whisper.gram import GramSource, default_cache_dir, default_subset, train_languages

    if config.gram_data is None:
        raise UserError(
            f"{config.method} needs Gram matrices of each expert's layer inputs: give --gram-data DIR (gram_data: in "
            "a merge config), a corpus directory with a train split holding the experts' languages"
        )
    data = config.gram_data
    languages = train_languages(data)
    experts = []
    for expert in config.experts:
        language = expert.language or (expert.name if expert.name in languages else None)
        if language is None:
            raise UserError(
                f"expert {expert.name!r}: which language's train clips give its Grams? Name it by its language "
                f"(--expert LANG=PATH) or give language: in the merge config (the train split of {data} has "
                f"{', '.join(sorted(languages))})"
            )
        if language not in languages:
            raise UserError(
                f"expert {expert.name!r}: the train split of {data} has no {language!r} clips "
                f"(it has {', '.join(sorted(languages))})"
            )
        experts.append(expert.model_copy(update={"language": language}))
    subset = config.gram_subset if config.gram_subset is not None else default_subset(data)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir(data)
    if cache_dir is None and not _writable(cache):
        cache = None  # a read-only corpus: compute every time rather than fail
    clips = config.gram_clips or DEFAULT_GRAM_CLIPS
    sources = {
        expert.name: GramSource(data=data, language=str(expert.language), clips=clips, subset=subset,
                                cache_dir=None if cache is None else str(cache))
        for expert in experts
    }
    resolved = {"experts": tuple(experts), "gram_subset": subset, "gram_clips": clips}
    return config.model_copy(update=resolved), sources


def _writable(directory: Path) -> bool:
    """Whether `directory` exists writable, or could be created in its nearest existing parent."""
    probe = directory
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


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
    """The config with base, expert and Gram-corpus paths that exist under `root` made absolute (Hub ids
    untouched), so a saved copy still points at the same files from anywhere."""
    experts = tuple(
        expert.model_copy(update={"path": _resolve_relative(expert.path, root)}) for expert in config.experts
    )
    update: dict[str, Any] = {"base": _resolve_relative(config.base, root), "experts": experts}
    if config.gram_data is not None:
        update["gram_data"] = _resolve_relative(config.gram_data, root)
    return config.model_copy(update=update)


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
    params: Mapping[str, int | float | None] | None = None,
    gram_data: str | None = None,
    gram_clips: int | None = None,
) -> MergeConfig:
    """The MergeConfig the command-line flags describe (global parameters only; `params`: any other declared
    parameter by name, e.g. RegMean's alpha)."""
    given = {
        name: value
        for name, value in (
            ("rank", rank),
            ("rank_ratio", rank_ratio),
            ("density", density),
            ("scale", scale),
            ("seed", seed),
            *(params or {}).items(),
        )
        if value is not None
    }
    raw: dict[str, Any] = {"base": base, "experts": list(experts), "method": method, "params": given, "dtype": dtype}
    if gram_data is not None:
        raw["gram_data"] = gram_data
    if gram_clips is not None:
        raw["gram_clips"] = gram_clips
    try:
        return MergeConfig.model_validate(raw)
    except ValidationError as exc:
        message = describe_validation_error(exc)
        for name in sorted(given, key=len, reverse=True):
            message = message.replace(f"params.{name}", "--" + name.replace("_", "-"))
        message = message.replace("gram_clips", "--gram-clips").replace("gram_data", "--gram-data")
        raise UserError(message) from None


__all__ = [
    "DEFAULT_GRAM_CLIPS",
    "ExpertSource",
    "MergeConfig",
    "ParamValues",
    "config_from_flags",
    "default_expert_name",
    "describe_validation_error",
    "gram_sources",
    "load_merge_config",
    "with_local_paths",
]
