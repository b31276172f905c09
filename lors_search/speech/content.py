"""What the synthetic speakers say: content forms (cardinals, ordinals, years, money, decimals and short
phrases around numbers), language-independent content keys, and their rendering in every spoken language
with the English translation.

A content key is a form plus its values ("cardinal:312", "currency:EUR:21.50", "date:21-03" = 21 March);
the same key can be said in any language, and its English rendering is the translation target. Each form
numbers its keys with integer codes (main value, then secondary value) so that key spaces can be
enumerated, partitioned into train/dev/test and sampled without building strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lors_search.errors import UserError
from lors_search.speech import phrases
from lors_search.speech.numbers import (
    CARDINAL_MAX,
    ORDINAL_MAX,
    SPOKEN_LANGUAGES,
    TARGET_LANGUAGE,
    cardinal,
    ordinal,
)

_CURRENCY_CODES = ("EUR", "USD")
# Decimal fractions: one digit 1-9, or two digits without a trailing zero (12.05, 3.75), so that every
# number has exactly one key.
_FRACTIONS: tuple[str, ...] = (
    *(str(d) for d in range(1, 10)),
    *(f"{d:02d}" for d in range(1, 100) if d % 10),
)
_FRACTION_INDEX = {f: i for i, f in enumerate(_FRACTIONS)}


@dataclass(frozen=True)
class Form:
    """A kind of content. `limits` bound the main value (the number the form is about: the amount for
    money, the whole part for decimals, the day for dates); `secondary` counts the other values per main
    value (currency and cents, fraction digits, month)."""

    name: str
    description: str
    limits: tuple[int, int]
    default_range: tuple[int, int]
    secondary: int
    speak: Callable[[str, int, int], str]  # (language, main, secondary) -> words
    suffix: Callable[[int, int], str]  # (main, secondary) -> the key after "form:"
    parse: Callable[[str], tuple[int, int]]  # inverse of suffix
    valid: Callable[[int, int], bool] = lambda main, sub: True

    def check_range(self, value_range: tuple[int, int]) -> None:
        lo, hi = value_range
        if lo > hi:
            raise UserError(f"form {self.name}: range [{lo}, {hi}] is empty")
        if lo < self.limits[0] or hi > self.limits[1]:
            raise UserError(
                f"form {self.name}: range [{lo}, {hi}] outside the supported {list(self.limits)}"
            )

    def codes(self, value_range: tuple[int, int] | None = None) -> np.ndarray:
        """Integer codes of every valid key whose main value lies in `value_range` (default: all)."""
        lo, hi = value_range or self.limits
        self.check_range((lo, hi))
        start = (lo - self.limits[0]) * self.secondary
        codes = np.arange(start, start + (hi - lo + 1) * self.secondary, dtype=np.int64)
        if self.name == "date":  # the only form with invalid combinations
            main, sub = self._split(codes)
            days = np.asarray(phrases.DAYS_IN_MONTH)[sub]
            codes = codes[main <= days]
        return codes

    def _split(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        main, sub = np.divmod(codes, self.secondary)
        return main + self.limits[0], sub

    def key(self, code: int) -> ContentKey:
        main, sub = divmod(int(code), self.secondary)
        return ContentKey(self.name, main + self.limits[0], sub)

    def code(self, key: ContentKey) -> int:
        return (key.main - self.limits[0]) * self.secondary + key.sub


@dataclass(frozen=True, order=True)
class ContentKey:
    """Language-independent content: a form and its values. `str(key)` is the stable text form."""

    form: str
    main: int
    sub: int = 0

    def __str__(self) -> str:
        return f"{self.form}:{FORMS[self.form].suffix(self.main, self.sub)}"

    @classmethod
    def parse(cls, text: str) -> ContentKey:
        form, sep, rest = text.partition(":")
        if not sep or form not in FORMS:
            raise UserError(f"not a content key: {text!r}")
        try:
            main, sub = FORMS[form].parse(rest)
        except (ValueError, KeyError, IndexError) as exc:
            raise UserError(f"not a content key: {text!r}") from exc
        key = cls(form, main, sub)
        if not (FORMS[form].limits[0] <= main <= FORMS[form].limits[1]) or not FORMS[form].valid(main, sub):
            raise UserError(f"content key out of range: {text!r}")
        return key


@dataclass(frozen=True)
class ContentItem:
    """One thing to say: the key, the source language, what is said, and its English translation."""

    key: ContentKey
    language: str
    transcript: str
    translation: str


def render(key: ContentKey, language: str) -> str:
    """The words a speaker of `language` says for `key`."""
    if language not in SPOKEN_LANGUAGES:
        raise UserError(f"unknown language {language!r}; known: {' '.join(SPOKEN_LANGUAGES)}")
    return FORMS[key.form].speak(language, key.main, key.sub)


def make_item(key: ContentKey, language: str) -> ContentItem:
    return ContentItem(key, language, render(key, language), render(key, TARGET_LANGUAGE))


def sample_keys(
    form: str, count: int, rng: np.random.Generator, value_range: tuple[int, int] | None = None
) -> list[ContentKey]:
    """`count` keys of `form` drawn uniformly (with replacement) from `value_range`."""
    spec = get_form(form)
    codes = spec.codes(value_range)
    return [spec.key(int(c)) for c in rng.choice(codes, size=count)]


def get_form(name: str) -> Form:
    if name not in FORMS:
        raise UserError(f"unknown content form {name!r}; known: {' '.join(FORMS)}")
    return FORMS[name]


def _plain(name: str, description: str, limits: tuple[int, int], default: tuple[int, int],
           speak: Callable[[str, int], str]) -> Form:  # fmt: skip
    return Form(
        name=name,
        description=description,
        limits=limits,
        default_range=default,
        secondary=1,
        speak=lambda language, main, _sub: speak(language, main),
        suffix=lambda main, _sub: str(main),
        parse=lambda text: (int(text), 0),
    )


def _parse_currency(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(EUR|USD):(\d+)\.(\d\d)", text)
    if not match:
        raise ValueError(text)
    return int(match[2]), _CURRENCY_CODES.index(match[1]) * 100 + int(match[3])


def _parse_decimal(text: str) -> tuple[int, int]:
    whole, fraction = text.split(".")
    return int(whole), _FRACTION_INDEX[fraction]


def _parse_date(text: str) -> tuple[int, int]:
    day, month = text.split("-")
    return int(day), int(month) - 1


FORMS: dict[str, Form] = {
    form.name: form
    for form in (
        _plain("cardinal", "a number on its own", (0, CARDINAL_MAX), (0, 9999), cardinal),
        _plain("ordinal", "an ordinal (masculine)", (1, ORDINAL_MAX), (1, 100), ordinal),
        _plain("year", "a year", (1100, 2099), (1900, 2099), phrases.year),
        Form(
            name="currency",
            description="an amount in euros or dollars, with or without cents",
            limits=(1, 9999),
            default_range=(1, 999),
            secondary=200,
            speak=lambda language, units, sub: phrases.money(
                language, _CURRENCY_CODES[sub // 100], units, sub % 100
            ),
            suffix=lambda units, sub: f"{_CURRENCY_CODES[sub // 100]}:{units}.{sub % 100:02d}",
            parse=_parse_currency,
        ),
        Form(
            name="decimal",
            description="a decimal number with one or two decimals",
            limits=(0, 999),
            default_range=(0, 99),
            secondary=len(_FRACTIONS),
            speak=lambda language, whole, sub: phrases.decimal(language, whole, _FRACTIONS[sub]),
            suffix=lambda whole, sub: f"{whole}.{_FRACTIONS[sub]}",
            parse=_parse_decimal,
        ),
        _plain("page", "page N", (1, 9999), (1, 999), phrases.page),
        _plain("room", "room N", (1, 9999), (1, 999), phrases.room),
        _plain("minutes", "N minutes", (1, 9999), (1, 120), phrases.minutes),
        _plain("kilometres", "N kilometres", (1, 9999), (1, 999), phrases.kilometres),
        _plain("percent", "N percent", (0, 100), (0, 100), phrases.percent),
        _plain("clock", "at N o'clock", (1, 12), (1, 12), phrases.clock),
        Form(
            name="date",
            description="the Nth of a month (main value: the day)",
            limits=(1, 31),
            default_range=(1, 31),
            secondary=12,
            speak=lambda language, day, month0: phrases.date(language, day, month0 + 1),
            suffix=lambda day, month0: f"{day:02d}-{month0 + 1:02d}",
            parse=_parse_date,
            valid=lambda day, month0: 0 <= month0 < 12 and day <= phrases.DAYS_IN_MONTH[month0],
        ),
    )
}
