"""The Whisper-style normaliser: each documented step on its own and together."""

from __future__ import annotations

import pytest

from lors_search.evaluation.normalizer import normalize_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", "hello world"),  # case and punctuation
        ("vint-i-u", "vint i u"),  # hyphens split words
        ("l'any dos mil", "l any dos mil"),  # apostrophes too
        ("Dreihundert [Lärm] (lacht) <|de|> zwölf", "dreihundert zwölf"),  # bracketed spans dropped
        ("ＤＲＥＩ ﬁnf", "drei finf"),  # noqa: RUF001 - NFKC: full-width letters on purpose, and a ligature
        ("Où ÉTÉ Über ŠEST", "où été über šest"),  # diacritics kept, lower-cased
        ("e\u0301te\u0301", "été"),  # decomposed accents compose under NFKC
        ("сто ДВА", "сто два"),  # Cyrillic lower case
        ("cent€ 50%", "cent 50"),  # symbols become spaces
        ("a\u200bb", "a b"),  # format characters (zero-width space) become spaces
        ("  un \t deux\n\ntrois  ", "un deux trois"),  # whitespace collapsed and stripped
        ("", ""),
        ("?!", ""),
    ],
)
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_normalize_is_idempotent() -> None:
    text = "Sechs-Hundert [x] L'ÉTÉ, ﬁn!"
    once = normalize_text(text)
    assert normalize_text(once) == once
