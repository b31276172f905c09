"""What the embedded benchmark is built from: the speech corpus, the model shape and the three training
stages (base, experts, multitask), as one frozen, hashable object.

Design (docs/benchmark.md has every recipe tried and its numbers): the base learns every language on
clean male voices (domain A) with shared content forms; each expert adapts it to domain B (female and
Klatt voices, wider rates, light noise) -- a shift every expert shares, so it merges -- and also learns a
content form that only its own language has in domain B (Catalan ordinals, German years, ...), which the
base never saw and the other experts do not know: knowledge that conflicts when task vectors are summed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lors_search.errors import UserError
from lors_search.speech.numbers import SOURCE_LANGUAGES
from lors_search.speech.spec import CorpusSpec, parse_corpus_spec
from lors_search.training.trainer import TrainConfig
from lors_search.whisper.model import ModelShape

DEFAULT_LANGUAGES: tuple[str, ...] = ("ca", "de", "es", "fr", "it")  # the paper's first group
QUICK_LANGUAGES: tuple[str, ...] = ("de", "es", "fr")

# Content every language has everywhere (base and domain B), with relative weights.
SHARED_FORMS: dict[str, dict[str, Any]] = {
    "cardinal": {"weight": 3.0, "range": [0, 9999]},
    "page": {"weight": 1.0},
    "room": {"weight": 1.0},
    "minutes": {"weight": 1.0},
    "kilometres": {"weight": 1.0},
}
# The form only this language has, in domain B only (expert training, dev, test): never seen by the base.
LANGUAGE_FORM: dict[str, str] = {
    "ca": "ordinal",
    "de": "year",
    "es": "currency",
    "fr": "decimal",
    "it": "percent",
    "id": "percent",
    "nl": "ordinal",
    "pt": "currency",
    "ru": "decimal",
    "sv": "year",
}
LANGUAGE_FORM_WEIGHT = 3.0  # against 7.0 for the shared forms: 30 % of a language's domain-B clips

STUDIO = {"variants": ["", "m1", "m2", "m3", "m4", "m5", "m6"], "rate": [150, 180], "pitch": [25, 75]}
STREET = {
    "variants": ["f1", "f2", "f3", "f4", "f5", "klatt"],
    "rate": [110, 230],
    "pitch": [25, 75],
    "noise": {"snr_db": [20, 30], "colours": ["white", "pink"], "probability": 1.0, "fill_window": False},
}


class DemoRecipe(BaseModel):
    """Everything a demo build depends on; equal recipes build bit-identical corpora and (on one device)
    the same models."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    languages: tuple[str, ...]
    corpus: CorpusSpec
    shape: ModelShape
    base: TrainConfig
    expert: TrainConfig  # per expert; seed + index of the language
    multitask: TrainConfig  # same total steps as the experts together
    eval_batch_size: int = Field(64, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> DemoRecipe:
        if tuple(self.corpus.languages) != self.languages:
            raise ValueError("the corpus languages must be the recipe's languages")
        if self.corpus.window_seconds != self.shape.window_seconds:
            raise ValueError("the corpus window must be the model's window")
        return self

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def digest(self, *parts: Any) -> str:
        """A short hash of the given parts of the recipe (stable across runs)."""
        text = json.dumps(parts, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def expert_config(self, language: str) -> TrainConfig:
        return self.expert.model_copy(update={"seed": self.expert.seed + self.languages.index(language)})


def check_languages(languages: Sequence[str] | None, default: Sequence[str]) -> tuple[str, ...]:
    """The languages asked for, validated (one-line `UserError`), duplicates removed, order kept."""
    if not languages:
        return tuple(default)
    chosen = tuple(dict.fromkeys(languages))
    unknown = [code for code in chosen if code not in SOURCE_LANGUAGES]
    if unknown:
        raise UserError(f"unknown language(s) {', '.join(unknown)}; known: {', '.join(SOURCE_LANGUAGES)}")
    if len(chosen) < 2:
        raise UserError("a demo needs at least two languages (one expert each, to merge)")
    return chosen


# The quick build's shared content: small cardinals only, which a tiny model learns in a few hundred steps.
QUICK_SHARED_FORMS: dict[str, dict[str, Any]] = {"cardinal": {"weight": 7.0, "range": [0, 99]}}
# ... and a milder domain B (the base's voices, light noise): the full shift needs more steps than 3 minutes allow.
QUICK_STREET: dict[str, Any] = {**STUDIO, "noise": STREET["noise"]}


def corpus_spec(
    languages: Sequence[str],
    *,
    base_clips: int,
    expert_clips: int,
    dev_clips: int,
    test_clips: int,
    shared_forms: dict[str, dict[str, Any]] | None = None,
    street: dict[str, Any] | None = None,
    seed: int = 0,
    repeat_held_out: bool = False,
) -> CorpusSpec:
    """Base subset in domain A with the shared forms; expert/dev/test subsets in domain B with the shared
    forms plus each language's own form."""
    langs = list(languages)
    shared = SHARED_FORMS if shared_forms is None else shared_forms
    specific = {lang: {**shared, LANGUAGE_FORM[lang]: {"weight": LANGUAGE_FORM_WEIGHT}} for lang in langs}

    def domain_b(split: str, clips: int) -> dict[str, Any]:
        # Held-out splits may repeat content with other voices and noise: a 100-key form (ordinals, percent)
        # has only 25 dev / 35 test keys, fewer than 30 % of 120 dev / 300 test clips.
        held_out = {"repeat_content": True} if repeat_held_out and split != "train" else {}
        return {"split": split, "tag": "expert", "domain": "street", "clips_per_language": clips,
                "forms": shared, "language_forms": specific, **held_out}

    return parse_corpus_spec(
        {
            "languages": langs,
            "seed": seed,
            "window_seconds": 5,
            "holdout": {"dev": 0.25, "test": 0.35},  # ordinal/percent: 100 keys, 30 test clips
            "domains": {"studio": STUDIO, "street": STREET if street is None else street},
            "subsets": [
                {"split": "train", "tag": "base", "domain": "studio", "clips_per_language": base_clips,
                 "forms": shared},
                domain_b("train", expert_clips),
                domain_b("dev", dev_clips),
                domain_b("test", test_clips),
            ],
        }
    )


def full_recipe(languages: Sequence[str] | None = None) -> DemoRecipe:
    """The benchmark the acceptance numbers in docs/benchmark.md are measured on."""
    langs = check_languages(languages, DEFAULT_LANGUAGES)
    expert = TrainConfig(steps=200, lr=3e-4, warmup_steps=20, schedule="constant", seed=100)
    return DemoRecipe(
        name="full",
        languages=langs,
        corpus=corpus_spec(langs, base_clips=1500, expert_clips=800, dev_clips=120, test_clips=300,
                           repeat_held_out=True),
        shape=ModelShape(d_model=128, encoder_layers=2, decoder_layers=2, attention_heads=4, ffn_dim=512),
        base=TrainConfig(steps=2400, lr=2e-3, min_lr=1e-4, warmup_steps=100, weight_decay=0.01, seed=0),
        expert=expert,
        multitask=expert.model_copy(update={"steps": expert.steps * len(langs), "seed": 200}),
    )


def quick_recipe(languages: Sequence[str] | None = None) -> DemoRecipe:
    """A small build for tests and smoke searches (under 3 minutes on 2 cores): same design, fewer clips,
    a smaller model and far fewer steps."""
    langs = check_languages(languages, QUICK_LANGUAGES)
    expert = TrainConfig(steps=100, lr=1e-3, warmup_steps=5, schedule="constant", seed=100)
    return DemoRecipe(
        name="quick",
        languages=langs,
        corpus=corpus_spec(langs, base_clips=200, expert_clips=100, dev_clips=16, test_clips=16,
                           shared_forms=QUICK_SHARED_FORMS, street=QUICK_STREET),
        shape=ModelShape(d_model=64, encoder_layers=2, decoder_layers=2, attention_heads=2, ffn_dim=256),
        base=TrainConfig(steps=500, lr=3e-3, min_lr=1e-4, warmup_steps=30, weight_decay=0.01, seed=0),
        expert=expert,
        multitask=expert.model_copy(update={"steps": expert.steps * len(langs), "seed": 200}),
        eval_batch_size=64,
    )
