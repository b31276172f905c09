"""The recipe of a synthetic speech corpus as validated, frozen configuration: languages, named voice domains
(eSpeak NG voice variants, speaking rate and pitch ranges, optional noise), subsets of clips per split, the
held-out share of content for dev and test, the seed and the model window.

Read from YAML/JSON/dicts with `parse_corpus_spec` / `load_corpus_spec`, which turn every validation problem
into a one-line `UserError`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lors_search.errors import UserError
from lors_search.speech.content import FORMS
from lors_search.speech.espeak import PITCH_RANGE, RATE_RANGE, available_variants
from lors_search.speech.numbers import SOURCE_LANGUAGES, SPOKEN_LANGUAGES

Split = Literal["train", "dev", "test"]
SPLITS: tuple[Split, ...] = ("train", "dev", "test")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _ordered(name: str, pair: tuple[float, float]) -> tuple[Any, Any]:
    if pair[0] > pair[1]:
        raise ValueError(f"{name} range [{pair[0]}, {pair[1]}] has low > high")
    return pair


class NoiseSpec(_Frozen):
    """Additive noise: SNR drawn uniformly from `snr_db` (relative to the voiced speech power), colour
    drawn from `colours`, applied to a clip with probability `probability`. With `fill_window` the clip
    is padded to the full model window first, so the noise covers the whole window."""

    snr_db: tuple[float, float]
    colours: tuple[Literal["white", "pink"], ...] = ("white", "pink")
    probability: float = Field(1.0, ge=0.0, le=1.0)
    fill_window: bool = False

    @field_validator("snr_db")
    @classmethod
    def _snr(cls, value: tuple[float, float]) -> tuple[float, float]:
        return _ordered("snr_db", value)

    @field_validator("colours")
    @classmethod
    def _colours(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("colours must name at least one of white, pink")
        return value


class VoiceDomain(_Frozen):
    """Who speaks and how: eSpeak NG voice variants of each language ("" = the language's default voice;
    e.g. "m1".."m7", "f1".."f5", "klatt"), speaking rate (words/min) and pitch (0-99), drawn uniformly."""

    variants: tuple[str, ...] = ("",)
    rate: tuple[int, int] = (150, 190)
    pitch: tuple[int, int] = (30, 70)
    noise: NoiseSpec | None = None

    @field_validator("variants")
    @classmethod
    def _variants(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("variants must not be empty (use [''] for the default voice)")
        unknown = sorted(v for v in value if v and v not in available_variants())
        if unknown:
            raise ValueError(f"unknown eSpeak NG voice variants {unknown}")
        return value

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] < RATE_RANGE[0] or value[1] > RATE_RANGE[1]:
            raise ValueError(f"rate must lie within {list(RATE_RANGE)} words/min")
        return _ordered("rate", value)

    @field_validator("pitch")
    @classmethod
    def _pitch(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] < PITCH_RANGE[0] or value[1] > PITCH_RANGE[1]:
            raise ValueError(f"pitch must lie within {list(PITCH_RANGE)}")
        return _ordered("pitch", value)


class FormChoice(_Frozen):
    """A content form in a subset: its share of the clips (`weight`, relative) and the range of its main
    value (the number; default: the form's default range)."""

    weight: float = Field(1.0, gt=0.0)
    range: tuple[int, int] | None = None


FormTable = dict[str, FormChoice]


def _check_forms(forms: FormTable, where: str) -> FormTable:
    if not forms:
        raise ValueError(f"{where}: forms must name at least one form")
    for name, choice in forms.items():
        if name not in FORMS:
            raise ValueError(f"{where}: unknown content form {name!r}; known: {', '.join(FORMS)}")
        if choice.range is not None:
            lo, hi = choice.range
            limits = FORMS[name].limits
            if lo > hi or lo < limits[0] or hi > limits[1]:
                raise ValueError(f"{where}: form {name} range [{lo}, {hi}] must lie within {list(limits)}")
    return forms


class Subset(_Frozen):
    """Clips of one split, one voice domain and one role (`tag`, stored in the `subset` column), for each
    of `languages` (default: all of the corpus's). `language_forms` replaces `forms` for some languages,
    so content can differ by language. Content is drawn without repeats unless `repeat_content` (default:
    repeats allowed in train only, where a small form such as `clock` must be said by many voices)."""

    split: Split
    tag: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    domain: str
    clips_per_language: int = Field(ge=1)
    languages: tuple[str, ...] | None = None
    forms: FormTable
    language_forms: dict[str, FormTable] = Field(default_factory=dict)
    repeat_content: bool | None = None

    @model_validator(mode="after")
    def _check(self) -> Subset:
        _check_forms(self.forms, f"subset {self.tag}")
        for language, forms in self.language_forms.items():
            if self.languages is not None and language not in self.languages:
                raise ValueError(f"subset {self.tag}: language_forms names {language!r}, not one of its languages")
            _check_forms(forms, f"subset {self.tag}, language {language}")
        return self

    @property
    def repeats(self) -> bool:
        return self.split == "train" if self.repeat_content is None else self.repeat_content

    def forms_for(self, language: str) -> FormTable:
        return self.language_forms.get(language, self.forms)


class Holdout(_Frozen):
    """Share of every form's content keys reserved for dev and for test (the rest is train)."""

    dev: float = Field(0.1, gt=0.0, lt=1.0)
    test: float = Field(0.1, gt=0.0, lt=1.0)

    @model_validator(mode="after")
    def _sum(self) -> Holdout:
        if self.dev + self.test >= 1.0:
            raise ValueError("holdout dev + test must leave some content for train")
        return self


class CorpusSpec(_Frozen):
    """A whole corpus. Same spec -> bit-identical corpus."""

    languages: tuple[str, ...] = ("ca", "de", "es", "fr", "it")
    domains: dict[str, VoiceDomain]
    subsets: tuple[Subset, ...]
    holdout: Holdout = Holdout()
    seed: int = Field(0, ge=0)
    window_seconds: int = Field(5, ge=1, le=30)
    trim_margin_seconds: float = Field(0.1, ge=0.0, le=1.0)
    voice_attempts: int = Field(4, ge=1, le=32)

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("languages must not be empty")
        unknown = [lang for lang in value if lang not in SPOKEN_LANGUAGES]
        if unknown:
            raise ValueError(f"unknown languages {unknown}; known: {', '.join(SOURCE_LANGUAGES)} (and en)")
        if len(set(value)) != len(value):
            raise ValueError("languages must not repeat")
        return value

    @model_validator(mode="after")
    def _check(self) -> CorpusSpec:
        if not self.subsets:
            raise ValueError("subsets must not be empty")
        for subset in self.subsets:
            if subset.domain not in self.domains:
                raise ValueError(
                    f"subset {subset.tag}: unknown domain {subset.domain!r}; defined: {', '.join(self.domains)}"
                )
            languages = self.subset_languages(subset)
            outside = [lang for lang in languages if lang not in self.languages]
            if outside:
                raise ValueError(f"subset {subset.tag}: languages {outside} are not in the corpus languages")
            stray = [lang for lang in subset.language_forms if lang not in languages]
            if stray:
                raise ValueError(f"subset {subset.tag}: language_forms names {stray}, not among its languages")
        return self

    def subset_languages(self, subset: Subset) -> tuple[str, ...]:
        return subset.languages if subset.languages is not None else self.languages

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"


def parse_corpus_spec(data: Mapping[str, Any] | CorpusSpec) -> CorpusSpec:
    """A validated spec from plain data; any problem becomes a one-line `UserError`."""
    if isinstance(data, CorpusSpec):
        return data
    try:
        return CorpusSpec.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        raise UserError(f"invalid corpus spec: {where + ': ' if where else ''}{message}{more}") from None


def load_corpus_spec(path: str | Path) -> CorpusSpec:
    """A spec from a YAML or JSON file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"cannot read corpus spec {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UserError(f"corpus spec {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UserError(f"corpus spec {path} must be a mapping")
    return parse_corpus_spec(data)
