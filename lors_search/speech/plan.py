"""Planning a corpus before any audio exists: the seeded train/dev/test partition of every form's content
keys, the content of every clip, and the voice draws to try for it. Pure and deterministic: the plan is a
function of the spec alone, so any number of synthesis workers reproduces it exactly.

Partition: within each form, all valid keys of the form's full key space are ranked by a seeded 64-bit hash
of their code; the first ceil(test * size) go to test, the next ceil(dev * size) to dev, the rest to train.
The assignment of a key never depends on which ranges or counts a spec asks for, so subsets that overlap in
range agree on it, and no key is ever in two splits.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from lors_search.errors import UserError
from lors_search.speech.content import FORMS, ContentKey, make_item
from lors_search.speech.numbers import SPOKEN_LANGUAGES
from lors_search.speech.spec import SPLITS, CorpusSpec, FormChoice, Split, Subset, VoiceDomain

SPLIT_CODES: dict[Split, int] = {"train": 0, "dev": 1, "test": 2}
_INVALID = 255
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
# Purposes mixed into seeds, so the draws for content, order, voices and replacements are independent.
_CONTENT, _ORDER, _VOICE = 1, 2, 3


@dataclass(frozen=True)
class VoiceDraw:
    """One way to say a clip: voice variant, rate, pitch, and noise (`noise` "none" with `snr_db` NaN when
    clean); the seeds make eSpeak's internal randomness and the noise reproducible."""

    variant: str
    rate: int
    pitch: int
    noise: str
    snr_db: float
    noise_seed: int
    synth_seed: int


@dataclass(frozen=True)
class ClipJob:
    """Everything a worker needs to render one clip (plain data, cheap to pickle)."""

    text: str
    language: str
    draws: tuple[VoiceDraw, ...]
    window_seconds: int
    trim_margin_seconds: float
    fill_window: bool


@dataclass(frozen=True)
class PlannedClip:
    id: str
    split: Split
    subset_index: int
    tag: str
    domain: str
    language: str
    key: ContentKey
    transcript: str
    translation: str
    job: ClipJob


@dataclass
class CorpusPlan:
    """The clips of every split in dataset order, plus the streams that supply replacement content for
    clips that cannot be said within the window."""

    spec: CorpusSpec
    clips: dict[Split, list[PlannedClip]]
    _streams: dict[tuple[int, str, str], KeyStream] = field(default_factory=dict, repr=False)

    def replacement(self, clip: PlannedClip, round_: int) -> PlannedClip:
        """The same slot with the next unused content key of its form (and fresh voice draws)."""
        stream = self._streams[(clip.subset_index, clip.language, clip.key.form)]
        code = stream.next()
        if code is None:
            raise UserError(
                f"subset {clip.tag} ({clip.split}, {clip.language}): ran out of {clip.key.form} content that "
                f"fits the {self.spec.window_seconds}-s window; lower the range or raise the speaking rate"
            )
        key = FORMS[clip.key.form].key(code)
        subset = self.spec.subsets[clip.subset_index]
        index = int(clip.id.rsplit("-", 1)[1])
        seed = subset_seed(self.spec, clip.subset_index)
        draws = _voice_draws(self.spec, subset, seed, clip.language, index, round_)
        return _planned(self.spec, subset, clip.subset_index, clip.language, index, key, draws)


class KeyStream:
    """Codes of one pool in a seeded random order; with `repeat`, reshuffled and replayed when used up."""

    def __init__(self, pool: np.ndarray, rng: np.random.Generator, repeat: bool) -> None:
        self._pool, self._rng, self._repeat = pool, rng, repeat
        self._order = rng.permutation(pool) if len(pool) else pool
        self._position = 0

    def __len__(self) -> int:
        return len(self._pool)

    def next(self) -> int | None:
        if self._position == len(self._order):
            if not self._repeat or not len(self._pool):
                return None
            self._order, self._position = self._rng.permutation(self._pool), 0
        code = int(self._order[self._position])
        self._position += 1
        return code

    def take(self, count: int) -> Iterator[int | None]:
        return (self.next() for _ in range(count))


def _salt(*parts: object) -> np.uint64:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return np.uint64(int.from_bytes(digest[:8], "little"))


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijective, well-spread hash of 64-bit integers."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (z ^ (z >> np.uint64(31))) & _MASK64


@functools.lru_cache(maxsize=64)
def split_assignment(form: str, seed: int, dev: float, test: float) -> np.ndarray:
    """Split code (0 train, 1 dev, 2 test; 255 for invalid codes) of every code of `form`'s key space."""
    spec = FORMS[form]
    size = (spec.limits[1] - spec.limits[0] + 1) * spec.secondary
    valid = spec.codes()
    with np.errstate(over="ignore"):
        hashes = _mix(valid.astype(np.uint64) + _salt("partition", seed, form))
    order = valid[np.argsort(hashes, kind="stable")]
    n_test, n_dev = math.ceil(test * len(valid)), math.ceil(dev * len(valid))
    assignment = np.full(size, _INVALID, dtype=np.uint8)
    assignment[order] = SPLIT_CODES["train"]
    assignment[order[:n_test]] = SPLIT_CODES["test"]
    assignment[order[n_test : n_test + n_dev]] = SPLIT_CODES["dev"]
    assignment.setflags(write=False)
    return assignment


def content_pool(spec: CorpusSpec, form: str, split: Split, value_range: tuple[int, int]) -> np.ndarray:
    """Codes of `form` in `value_range` that belong to `split`."""
    codes = FORMS[form].codes(value_range)
    assignment = split_assignment(form, spec.seed, spec.holdout.dev, spec.holdout.test)
    return codes[assignment[codes] == SPLIT_CODES[split]]


def form_counts(forms: dict[str, FormChoice], total: int) -> dict[str, int]:
    """`total` clips shared out by weight, exactly (largest remainder; ties go to the earlier form)."""
    weights = np.array([choice.weight for choice in forms.values()], dtype=np.float64)
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    remainder = total - int(counts.sum())
    for i in sorted(range(len(counts)), key=lambda i: (-(exact[i] - counts[i]), i))[:remainder]:
        counts[i] += 1
    return dict(zip(forms, (int(c) for c in counts), strict=True))


def _rng(spec: CorpusSpec, *parts: int) -> np.random.Generator:
    return np.random.default_rng([spec.seed, *parts])


def subset_seed(spec: CorpusSpec, index: int) -> int:
    """A seed for subset `index` drawn from its own settings (plus its rank among identical subsets), not
    from its position: adding or removing other subsets leaves its clips unchanged, so a recipe can grow
    its training data without touching dev and test."""
    subset = spec.subsets[index]
    text = subset.model_dump_json()
    rank = sum(other.model_dump_json() == text for other in spec.subsets[:index])
    return int(_salt("subset", text, rank)) >> 1


def _voice_draws(
    spec: CorpusSpec, subset: Subset, seed: int, language: str, index: int, round_: int
) -> tuple[VoiceDraw, ...]:
    domain: VoiceDomain = spec.domains[subset.domain]
    rng = _rng(spec, _VOICE, seed, SPOKEN_LANGUAGES.index(language), index, round_)
    draws = []
    for _ in range(spec.voice_attempts):
        variant = domain.variants[int(rng.integers(len(domain.variants)))]
        rate = int(rng.integers(domain.rate[0], domain.rate[1] + 1))
        pitch = int(rng.integers(domain.pitch[0], domain.pitch[1] + 1))
        noise, snr = "none", math.nan
        if domain.noise is not None and rng.random() < domain.noise.probability:
            noise = domain.noise.colours[int(rng.integers(len(domain.noise.colours)))]
            snr = float(rng.uniform(domain.noise.snr_db[0], domain.noise.snr_db[1]))
        draws.append(
            VoiceDraw(variant, rate, pitch, noise, snr, int(rng.integers(2**63)), int(rng.integers(2**31)))
        )
    return tuple(draws)


def _planned(
    spec: CorpusSpec, subset: Subset, subset_index: int, language: str, index: int, key: ContentKey,
    draws: tuple[VoiceDraw, ...],
) -> PlannedClip:  # fmt: skip
    item = make_item(key, language)
    domain = spec.domains[subset.domain]
    job = ClipJob(
        text=item.transcript,
        language=language,
        draws=draws,
        window_seconds=spec.window_seconds,
        trim_margin_seconds=spec.trim_margin_seconds,
        fill_window=domain.noise is not None and domain.noise.fill_window,
    )
    return PlannedClip(
        id=f"{subset.split}-{subset_index:02d}-{subset.tag}-{language}-{index:05d}",
        split=subset.split,
        subset_index=subset_index,
        tag=subset.tag,
        domain=subset.domain,
        language=language,
        key=key,
        transcript=item.transcript,
        translation=item.translation,
        job=job,
    )


def plan_corpus(spec: CorpusSpec) -> CorpusPlan:
    """Every clip of the corpus, or a `UserError` naming the first subset whose content pool is too small."""
    plan = CorpusPlan(spec=spec, clips={split: [] for split in SPLITS})
    for s, subset in enumerate(spec.subsets):
        seed = subset_seed(spec, s)
        for language in spec.subset_languages(subset):
            lang_index = SPOKEN_LANGUAGES.index(language)
            forms = subset.forms_for(language)
            keys: list[ContentKey] = []
            for form, count in form_counts(forms, subset.clips_per_language).items():
                value_range = forms[form].range or FORMS[form].default_range
                pool = content_pool(spec, form, subset.split, value_range)
                rng = _rng(spec, _CONTENT, seed, lang_index, list(FORMS).index(form))
                stream = KeyStream(pool, rng, subset.repeats)
                codes = [code for code in stream.take(count) if code is not None]
                if len(codes) < count:
                    raise UserError(
                        f"subset {subset.tag} ({subset.split}, {language}): needs {count} distinct {form} items "
                        f"in range {list(value_range)} but the {subset.split} pool has only {len(pool)}; widen "
                        f"the range, lower clips_per_language, raise holdout.{subset.split} or set repeat_content"
                        if len(pool) else
                        f"subset {subset.tag} ({subset.split}, {language}): no {form} content in range "
                        f"{list(value_range)} belongs to {subset.split}; widen the range"
                    )  # fmt: skip
                keys.extend(FORMS[form].key(code) for code in codes)
                plan._streams[(s, language, form)] = stream
            order = _rng(spec, _ORDER, seed, lang_index).permutation(len(keys))
            for index, k in enumerate(order):
                draws = _voice_draws(spec, subset, seed, language, index, 0)
                plan.clips[subset.split].append(_planned(spec, subset, s, language, index, keys[k], draws))
    return plan
