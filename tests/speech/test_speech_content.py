"""Content generation: every form in every language is spoken text (words, lower case, no digits), keys are
language independent, and the translation is the English rendering of the same key."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lors_search.errors import UserError
from lors_search.speech.content import FORMS, ContentKey, get_form, make_item, render, sample_keys
from lors_search.speech.numbers import SOURCE_LANGUAGES, SPOKEN_LANGUAGES, attributive, cardinal, ordinal
from lors_search.whisper.tokenizer import load_tokenizer

# Letters of any script, with spaces, hyphens and apostrophes between words ("vint-i-un", "l'onze", "o'clock").
SPOKEN_TEXT = re.compile(r"^[^\W\d_]+(?:[ '\-][^\W\d_]+)*$")


def _keys_per_form(count: int = 60) -> dict[str, list[ContentKey]]:
    rng = np.random.default_rng(0)
    keys = {}
    for name, form in FORMS.items():
        drawn = sample_keys(name, count, rng)  # the whole supported range, not only the default
        edges = [form.key(int(c)) for c in (form.codes()[0], form.codes()[-1])]
        keys[name] = [*edges, *drawn]
    return keys


KEYS = _keys_per_form()


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("language", SOURCE_LANGUAGES)
def test_every_form_in_every_language_is_spoken_text_with_its_english_translation(
    form: str, language: str
) -> None:
    for key in KEYS[form]:
        item = make_item(key, language)
        for text in (item.transcript, item.translation):
            assert text and text == text.lower() and not re.search(r"\d", text), (str(key), text)
            assert SPOKEN_TEXT.match(text), (str(key), text)
        assert item.translation == render(key, "en")
        assert item.language == language and item.key == key


def test_the_same_key_reads_differently_in_each_language() -> None:
    key = ContentKey.parse("kilometres:312")
    texts = {lang: render(key, lang) for lang in SPOKEN_LANGUAGES}
    assert len(set(texts.values())) == len(SPOKEN_LANGUAGES)


@pytest.mark.parametrize(
    ("key", "language", "expected"),
    [
        ("cardinal:312", "en", "three hundred and twelve"),
        ("cardinal:1987", "en", "one thousand nine hundred and eighty-seven"),
        ("cardinal:101000", "de", "einhunderteintausend"),
        ("cardinal:21000", "es", "veintiún mil"),
        ("cardinal:21000", "it", "ventunmila"),
        ("cardinal:453", "it", "quattrocentocinquantatré"),
        ("cardinal:3", "it", "tre"),
        ("cardinal:3013", "it", "tremilatredici"),
        ("cardinal:101", "nl", "honderdeen"),
        ("cardinal:1987", "sv", "ettusenniohundraåttiosju"),
        ("ordinal:13", "es", "decimotercero"),
        ("ordinal:30", "ca", "trentè"),
        ("ordinal:20", "sv", "tjugonde"),
        ("ordinal:80", "fr", "quatre-vingtième"),
        ("year:1987", "en", "nineteen eighty-seven"),
        ("year:1987", "nl", "negentienhonderdzevenentachtig"),
        ("year:1987", "ru", "тысяча девятьсот восемьдесят седьмой год"),
        ("year:2024", "sv", "tvåtusentjugofyra"),
        ("currency:EUR:21.50", "es", "veintiún euros con cincuenta céntimos"),
        ("currency:EUR:21.50", "en", "twenty-one euros and fifty cents"),
        ("currency:USD:1.01", "fr", "un dollar et un cent"),
        ("currency:USD:2.00", "ru", "два доллара"),
        ("currency:EUR:1.00", "sv", "en euro"),
        ("decimal:12.05", "de", "zwölf komma null fünf"),
        ("decimal:3.5", "ru", "три целых пять десятых"),
        ("decimal:3.5", "en", "three point five"),
        ("minutes:21", "fr", "vingt et une minutes"),
        ("minutes:21", "ru", "двадцать одна минута"),
        ("minutes:1", "de", "eine minute"),
        ("kilometres:5", "ru", "пять километров"),
        ("percent:1", "de", "ein prozent"),
        ("page:45", "it", "pagina quarantacinque"),
        ("room:7", "id", "kamar tujuh"),
        ("clock:1", "it", "all'una"),
        ("clock:2", "ca", "a les dues"),
        ("clock:2", "pt", "às duas horas"),
        ("clock:5", "ru", "в пять часов"),
        ("clock:11", "en", "at eleven o'clock"),
        ("date:01-03", "fr", "le premier mars"),
        ("date:11-04", "ca", "l'onze d'abril"),
        ("date:08-10", "it", "l'otto ottobre"),
        ("date:21-03", "ru", "двадцать первое марта"),
        ("date:21-03", "en", "the twenty-first of march"),
    ],
)
def test_known_renderings(key: str, language: str, expected: str) -> None:
    assert render(ContentKey.parse(key), language) == expected


def test_number_agreement_helpers() -> None:
    assert [attributive("es", n) for n in (1, 21, 31)] == ["un", "veintiún", "treinta y un"]
    assert [attributive("es", n, "f") for n in (1, 21, 200)] == ["una", "veintiuna", "doscientas"]
    assert [attributive("pt", n, "f") for n in (1, 2, 300)] == ["uma", "duas", "trezentas"]
    assert attributive("sv", 21, "m") == "tjugoen" and attributive("sv", 21, "n") == "tjugoett"
    assert cardinal("en", 1_000_001 - 2) == "nine hundred and ninety-nine thousand nine hundred and ninety-nine"
    assert ordinal("ru", 3, "n") == "третье"
    with pytest.raises(ValueError):
        cardinal("es", -1)


@pytest.mark.parametrize("form", list(FORMS))
def test_keys_round_trip_through_text_and_codes(form: str) -> None:
    spec = get_form(form)
    for key in KEYS[form]:
        assert ContentKey.parse(str(key)) == key
        assert spec.key(spec.code(key)) == key


def test_key_spaces_and_ranges() -> None:
    assert len(FORMS["date"].codes()) == 366  # 29 February included
    assert len(FORMS["clock"].codes()) == 12
    assert len(FORMS["currency"].codes((1, 10))) == 10 * 2 * 100
    assert len(FORMS["decimal"].codes((0, 0))) == 9 + 90  # 0.1..0.9, then 0.01..0.99 but not 0.10, 0.20 ...
    with pytest.raises(UserError, match="outside the supported"):
        FORMS["ordinal"].codes((1, 500))
    with pytest.raises(UserError, match="unknown content form"):
        get_form("haiku")


@pytest.mark.parametrize("text", ["cardinal:x", "date:30-02", "currency:GBP:1.00", "nothing", "ordinal:0"])
def test_malformed_keys_are_refused(text: str) -> None:
    with pytest.raises(UserError):
        ContentKey.parse(text)


def test_unknown_language_is_refused() -> None:
    with pytest.raises(UserError, match="unknown language"):
        render(ContentKey.parse("cardinal:3"), "xx")


def test_whisper_tokenizer_round_trips_generated_text_of_every_language() -> None:
    tokenizer = load_tokenizer()
    for language in SPOKEN_LANGUAGES:
        assert tokenizer.convert_tokens_to_ids(f"<|{language}|>") != tokenizer.unk_token_id
        for keys in KEYS.values():
            for key in keys[:10]:
                text = render(key, language)
                ids = tokenizer(text, add_special_tokens=False).input_ids
                assert tokenizer.decode(ids) == text, (language, text)
