"""Number words in the ten source languages of the LoRS-Merging paper (ca de es fr it id nl pt ru sv) and in
English, the translation target: cardinals, ordinals and cardinals agreeing with a following noun.

Built on `num2words` (0.5.14), with its slips corrected where the written form is wrong or inconsistent:
German "einhunderteinstausend", Spanish "veintiuno mil", Italian "ventunomila" and "centotre", Dutch
"honderdéén", Swedish "etttusen" and "tjugode", French "quatre-vingtsième", English thousands commas.
Catalan and Spanish ordinals are written here (num2words fails on the Catalan 30th and spells Spanish
11th-19th inconsistently). All output is lower case.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

from num2words import num2words

SOURCE_LANGUAGES: tuple[str, ...] = ("ca", "de", "es", "fr", "it", "id", "nl", "pt", "ru", "sv")
TARGET_LANGUAGE = "en"
SPOKEN_LANGUAGES: tuple[str, ...] = (*SOURCE_LANGUAGES, TARGET_LANGUAGE)
LANGUAGE_NAMES = {
    "ca": "Catalan", "de": "German", "es": "Spanish", "fr": "French", "it": "Italian", "id": "Indonesian",
    "nl": "Dutch", "pt": "Portuguese", "ru": "Russian", "sv": "Swedish", "en": "English",
}  # fmt: skip

CARDINAL_MAX = 999_999  # every fix below is checked up to here
ORDINAL_MAX = 100

Gender = Literal["m", "f", "n"]


@functools.lru_cache(maxsize=65536)
def cardinal(language: str, n: int) -> str:
    """The number `n` as said on its own ("eins", "uno", "één")."""
    if not 0 <= n <= CARDINAL_MAX:
        raise ValueError(f"cardinal {n} outside 0..{CARDINAL_MAX}")
    text = num2words(n, lang=language).lower()
    fix = _CARDINAL_FIXES.get(language)
    return fix(text) if fix else text


def _fix_de(text: str) -> str:
    return text.replace("einstausend", "eintausend")


def _fix_es(text: str) -> str:
    text = re.sub(r"\bveintiuno mil\b", "veintiún mil", text)
    return re.sub(r"\buno mil\b", "un mil", text)


def _fix_it(text: str) -> str:
    # A final "tre" after other digits carries the accent (ventitré, quattrocentotré); num2words drops it
    # above 100.
    return re.sub(r"(?<=\w)tre$", "tré", text.replace("unomila", "unmila"))


def fix_dutch_compound(text: str) -> str:
    # The accent marks "one" standing alone; inside a compound it is "een" (honderdeen, eenentwintig).
    return re.sub(r"(?<=\w)één|één(?=\w)", "een", text)


def _fix_sv(text: str) -> str:
    # Swedish writes numbers below a million as one word, and never three equal consonants in a row.
    return text.replace("tusen ", "tusen").replace("ttt", "tt")


def _fix_en(text: str) -> str:
    return text.replace(",", "")


_CARDINAL_FIXES = {"de": _fix_de, "es": _fix_es, "it": _fix_it, "nl": fix_dutch_compound, "sv": _fix_sv, "en": _fix_en}


@functools.lru_cache(maxsize=4096)
def ordinal(language: str, n: int, gender: Gender = "m") -> str:
    """The ordinal of `n` (1..100), masculine unless `gender` says otherwise (used for Russian dates)."""
    if not 1 <= n <= ORDINAL_MAX:
        raise ValueError(f"ordinal {n} outside 1..{ORDINAL_MAX}")
    if language == "ca":
        return _ordinal_ca(n)
    if language == "es":
        return _ordinal_es(n)
    if language == "ru":
        return str(num2words(n, lang="ru", to="ordinal", gender=gender)).lower()
    text = str(num2words(n, lang=language, to="ordinal")).lower()
    if language == "sv":
        text = re.sub(r"tjugode$", "tjugonde", text)
    if language == "fr":
        text = text.replace("vingtsième", "vingtième")
    if language == "en":
        text = text.replace(",", "")
    return text


_CA_ORDINAL_UNITS = {1: "primer", 2: "segon", 3: "tercer", 4: "quart"}
# Catalan ordinals from 5 on add -è to the cardinal, with these stem changes.
_CA_ORDINAL_STEMS = {"u": "unè", "un": "unè", "cinc": "cinquè", "nou": "novè", "deu": "desè", "dinou": "dinovè"}


def _ordinal_ca(n: int) -> str:
    if n in _CA_ORDINAL_UNITS:
        return _CA_ORDINAL_UNITS[n]
    words = cardinal("ca", n).split("-")
    last = words[-1]
    if last in _CA_ORDINAL_STEMS:
        last = _CA_ORDINAL_STEMS[last]
    elif last.endswith(("e", "a")):  # quatre -> quatrè, onze -> onzè, trenta -> trentè
        last = last[:-1] + "è"
    else:  # dos -> dosè, set -> setè, vint -> vintè, cent -> centè
        last = last + "è"
    return "-".join([*words[:-1], last])


_ES_UNITS = ["", "primero", "segundo", "tercero", "cuarto", "quinto", "sexto", "séptimo", "octavo", "noveno"]
_ES_TENS = ["", "décimo", "vigésimo", "trigésimo", "cuadragésimo", "quincuagésimo", "sexagésimo",
            "septuagésimo", "octogésimo", "nonagésimo"]  # fmt: skip
# 11th-19th as the Real Academia Española writes them (one word, no accent on "decimo").
_ES_TEENS = {11: "undécimo", 12: "duodécimo", 13: "decimotercero", 14: "decimocuarto", 15: "decimoquinto",
             16: "decimosexto", 17: "decimoséptimo", 18: "decimoctavo", 19: "decimonoveno"}  # fmt: skip


def _ordinal_es(n: int) -> str:
    if n == 100:
        return "centésimo"
    if n in _ES_TEENS:
        return _ES_TEENS[n]
    tens, units = divmod(n, 10)
    return " ".join(word for word in (_ES_TENS[tens], _ES_UNITS[units]) if word)


def counted(language: str, n: int, noun: Noun) -> str:
    """`n` followed by `noun`, with the number agreeing in gender and the noun in number ("veintiún euros",
    "двадцать одна минута", "en minut")."""
    return f"{attributive(language, n, noun.gender(language))} {noun.form(language, n)}"


def attributive(language: str, n: int, gender: Gender = "m") -> str:
    """The cardinal `n` as it stands before a noun of `gender` ("un", "eine", "veintiuna", "en")."""
    text = cardinal(language, n)
    if language == "es":
        if gender == "f":
            text = re.sub(r"uno$", "una", text)
            return re.sub(r"ientos\b", "ientas", text)
        text = re.sub(r"veintiuno$", "veintiún", text)
        return re.sub(r"\buno$", "un", text)
    if language == "ca" and gender == "f":
        text = re.sub(r"\bun$", "una", text)
        text = re.sub(r"\bdos$", "dues", text)
        return text.replace("-cents", "-centes")
    if language == "pt" and gender == "f":
        text = re.sub(r"\bum$", "uma", text)
        text = re.sub(r"\bdois$", "duas", text)
        return re.sub(r"entos\b", "entas", text)
    if language == "fr" and gender == "f":
        return re.sub(r"(^|[\s-])un$", r"\1une", text)
    if language == "it" and n == 1:
        return "una" if gender == "f" else "un"
    if language == "de" and text.endswith("eins"):
        return text[:-1] + ("e" if gender == "f" else "")
    if language == "sv" and gender != "n":
        # Common-gender nouns take "en": en minut, tjugoen minuter.
        return "en" if n == 1 else re.sub(r"ett$", "en", text)
    if language == "ru":
        return str(num2words(n, lang="ru", gender=gender)).lower()
    return text


@dataclass(frozen=True)
class Noun:
    """A countable noun in every spoken language: (singular, plural) and, for Russian, the genitive
    plural used after 5-20 as a third form; `genders` gives each language's grammatical gender."""

    forms: dict[str, tuple[str, ...]]
    genders: dict[str, Gender]

    def gender(self, language: str) -> Gender:
        return self.genders.get(language, "m")

    def form(self, language: str, n: int) -> str:
        forms = self.forms[language]
        if language == "ru":
            singular, few, many = forms
            if n % 10 == 1 and n % 100 != 11:
                return singular
            if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
                return few
            return many
        return forms[0] if n == 1 else forms[1]
