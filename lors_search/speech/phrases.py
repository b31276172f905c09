"""Hand-written phrase templates around numbers, per spoken language: page and room numbers, minutes,
kilometres, percentages, money, clock times, dates, years and decimals, each with the grammar it needs
(gender and number agreement, elision, month names). Used by `content.py`; the English column is the
translation target of every form.
"""

from __future__ import annotations

from decimal import Decimal

from num2words import num2words

from lors_search.speech.numbers import Noun, attributive, cardinal, counted, fix_dutch_compound, ordinal

MINUTE = Noun(
    forms={
        "ca": ("minut", "minuts"), "de": ("minute", "minuten"), "es": ("minuto", "minutos"),
        "fr": ("minute", "minutes"), "it": ("minuto", "minuti"), "id": ("menit", "menit"),
        "nl": ("minuut", "minuten"), "pt": ("minuto", "minutos"), "ru": ("минута", "минуты", "минут"),
        "sv": ("minut", "minuter"), "en": ("minute", "minutes"),
    },
    genders={"de": "f", "fr": "f", "ru": "f"},
)  # fmt: skip
KILOMETRE = Noun(
    forms={
        "ca": ("quilòmetre", "quilòmetres"), "de": ("kilometer", "kilometer"), "es": ("kilómetro", "kilómetros"),
        "fr": ("kilomètre", "kilomètres"), "it": ("chilometro", "chilometri"), "id": ("kilometer", "kilometer"),
        "nl": ("kilometer", "kilometer"), "pt": ("quilómetro", "quilómetros"),
        "ru": ("километр", "километра", "километров"), "sv": ("kilometer", "kilometer"),
        "en": ("kilometre", "kilometres"),
    },
    genders={},
)  # fmt: skip
PERCENT = Noun(
    forms={
        "ca": ("per cent", "per cent"), "de": ("prozent", "prozent"), "es": ("por ciento", "por ciento"),
        "fr": ("pour cent", "pour cent"), "it": ("per cento", "per cento"), "id": ("persen", "persen"),
        "nl": ("procent", "procent"), "pt": ("por cento", "por cento"),
        "ru": ("процент", "процента", "процентов"), "sv": ("procent", "procent"), "en": ("percent", "percent"),
    },
    genders={"sv": "n"},
)  # fmt: skip
EURO = Noun(
    forms={
        "ca": ("euro", "euros"), "de": ("euro", "euro"), "es": ("euro", "euros"), "fr": ("euro", "euros"),
        "it": ("euro", "euro"), "id": ("euro", "euro"), "nl": ("euro", "euro"), "pt": ("euro", "euros"),
        "ru": ("евро", "евро", "евро"), "sv": ("euro", "euro"), "en": ("euro", "euros"),
    },
    genders={},
)  # fmt: skip
DOLLAR = Noun(
    forms={
        "ca": ("dòlar", "dòlars"), "de": ("dollar", "dollar"), "es": ("dólar", "dólares"),
        "fr": ("dollar", "dollars"), "it": ("dollaro", "dollari"), "id": ("dolar", "dolar"),
        "nl": ("dollar", "dollar"), "pt": ("dólar", "dólares"), "ru": ("доллар", "доллара", "долларов"),
        "sv": ("dollar", "dollar"), "en": ("dollar", "dollars"),
    },
    genders={},
)  # fmt: skip
EURO_CENT = Noun(
    forms={
        "ca": ("cèntim", "cèntims"), "de": ("cent", "cent"), "es": ("céntimo", "céntimos"),
        "fr": ("centime", "centimes"), "it": ("centesimo", "centesimi"), "id": ("sen", "sen"),
        "nl": ("cent", "cent"), "pt": ("cêntimo", "cêntimos"), "ru": ("цент", "цента", "центов"),
        "sv": ("cent", "cent"), "en": ("cent", "cents"),
    },
    genders={},
)  # fmt: skip
DOLLAR_CENT = Noun(
    forms={**EURO_CENT.forms, "ca": ("centau", "centaus"), "es": ("centavo", "centavos"), "fr": ("cent", "cents")},
    genders={},
)
CURRENCIES: dict[str, tuple[Noun, Noun]] = {"EUR": (EURO, EURO_CENT), "USD": (DOLLAR, DOLLAR_CENT)}
# "and" between the whole units and the cents.
_AND = {"ca": "amb", "de": "und", "es": "con", "fr": "et", "it": "e", "id": "dan", "nl": "en", "pt": "e",
        "ru": "и", "sv": "och", "en": "and"}  # fmt: skip

_PAGE = {"ca": "pàgina", "de": "seite", "es": "página", "fr": "page", "it": "pagina", "id": "halaman",
         "nl": "pagina", "pt": "página", "ru": "страница", "sv": "sida", "en": "page"}  # fmt: skip
_ROOM = {"ca": "habitació", "de": "zimmer", "es": "habitación", "fr": "chambre", "it": "camera", "id": "kamar",
         "nl": "kamer", "pt": "quarto", "ru": "комната", "sv": "rum", "en": "room"}  # fmt: skip
_DECIMAL_POINT = {"ca": "coma", "de": "komma", "es": "coma", "fr": "virgule", "it": "virgola", "id": "koma",
                  "nl": "komma", "pt": "vírgula", "sv": "komma", "en": "point"}  # fmt: skip

MONTHS = {
    "ca": ("gener", "febrer", "març", "abril", "maig", "juny", "juliol", "agost", "setembre", "octubre",
           "novembre", "desembre"),
    "de": ("januar", "februar", "märz", "april", "mai", "juni", "juli", "august", "september", "oktober",
           "november", "dezember"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "it": ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto", "settembre",
           "ottobre", "novembre", "dicembre"),
    "id": ("januari", "februari", "maret", "april", "mei", "juni", "juli", "agustus", "september", "oktober",
           "november", "desember"),
    "nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
           "november", "december"),
    "pt": ("janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
           "novembro", "dezembro"),
    # Russian dates put the month in the genitive: "двадцать первое марта".
    "ru": ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
           "ноября", "декабря"),
    "sv": ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
           "november", "december"),
    "en": ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"),
}  # fmt: skip
DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def page(language: str, n: int) -> str:
    return f"{_PAGE[language]} {cardinal(language, n)}"


def room(language: str, n: int) -> str:
    return f"{_ROOM[language]} {cardinal(language, n)}"


def minutes(language: str, n: int) -> str:
    return counted(language, n, MINUTE)


def kilometres(language: str, n: int) -> str:
    return counted(language, n, KILOMETRE)


def percent(language: str, n: int) -> str:
    if language == "ru":
        return counted(language, n, PERCENT)
    # A percentage keeps the number's standalone form ("uno por ciento") except in German ("ein Prozent").
    number = attributive(language, n, "n") if language == "de" else cardinal(language, n)
    return f"{number} {PERCENT.forms[language][0]}"


def money(language: str, currency: str, units: int, cents: int) -> str:
    unit_noun, cent_noun = CURRENCIES[currency]
    text = counted(language, units, unit_noun)
    if cents:
        text += f" {_AND[language]} {counted(language, cents, cent_noun)}"
    return text


def decimal(language: str, whole: int, fraction: str) -> str:
    """`whole`.`fraction` read aloud; the fraction digit by digit except in Russian, which reads it as a
    fraction ("три целых пять десятых")."""
    if language == "ru":
        return str(num2words(Decimal(f"{whole}.{fraction}"), lang="ru")).lower()
    digits = " ".join(cardinal(language, int(d)) for d in fraction)
    return f"{cardinal(language, whole)} {_DECIMAL_POINT[language]} {digits}"


def clock(language: str, hour: int) -> str:
    """At `hour` o'clock, 1..12."""
    if not 1 <= hour <= 12:
        raise ValueError(f"hour {hour} outside 1..12")
    n = cardinal(language, hour)
    if language == "ca":
        return "a la una" if hour == 1 else f"a les {attributive('ca', hour, 'f')}"
    if language == "de":
        return f"um {attributive('de', hour, 'n')} uhr"
    if language == "es":
        return "a la una" if hour == 1 else f"a las {n}"
    if language == "fr":
        return "à une heure" if hour == 1 else f"à {n} heures"
    if language == "it":
        return "all'una" if hour == 1 else f"alle {n}"
    if language == "id":
        return f"pukul {n}"
    if language == "nl":
        return f"om {n} uur"
    if language == "pt":
        return "à uma hora" if hour == 1 else f"às {attributive('pt', hour, 'f')} horas"
    if language == "ru":
        if hour == 1:
            return "в час"
        return f"в {n} {'часа' if hour <= 4 else 'часов'}"
    if language == "sv":
        return f"klockan {n}"
    return f"at {n} o'clock"


def date(language: str, day: int, month: int) -> str:
    """The `day` of `month` (1-based), as said in a sentence ("el veintiuno de marzo", "der erste März")."""
    if not 1 <= month <= 12 or not 1 <= day <= DAYS_IN_MONTH[month - 1]:
        raise ValueError(f"no date {day}/{month}")
    name = MONTHS[language][month - 1]
    n = cardinal(language, day)
    if language == "ca":
        of = "d'" if name[0] in "aeiou" else "de "
        if day == 1:
            return f"el primer {of}{name}"
        article = "l'" if n[0] in "aeiou" else "el "
        return f"{article}{n} {of}{name}"
    if language == "de":
        return f"der {ordinal('de', day)} {name}"
    if language == "es":
        return f"el {n} de {name}"
    if language == "fr":
        return f"le {'premier' if day == 1 else n} {name}"
    if language == "it":
        if day == 1:
            return f"il primo {name}"
        return f"l'{n} {name}" if n[0] in "aeiou" else f"il {n} {name}"
    if language == "id":
        return f"tanggal {n} {name}"
    if language == "nl":
        return f"{n} {name}"
    if language == "pt":
        return f"dia {n} de {name}"
    if language == "ru":
        return f"{ordinal('ru', day, 'n')} {name}"
    if language == "sv":
        return f"den {ordinal('sv', day)} {name}"
    return f"the {ordinal('en', day)} of {name}"


def year(language: str, y: int) -> str:
    """The year `y` (1100..2099) as read aloud in each language."""
    if not 1100 <= y <= 2099:
        raise ValueError(f"year {y} outside 1100..2099")
    century, rest = divmod(y, 100)
    if language in ("de", "en"):
        text = str(num2words(y, lang=language, to="year")).lower()
        return text.replace(",", "")
    if language in ("nl", "sv") and y < 2000:
        # Dutch and Swedish read years before 2000 in hundreds, written as one word: negentienhonderdzeven.
        hundred = "honderd" if language == "nl" else "hundra"
        text = f"{cardinal(language, century)}{hundred}{cardinal(language, rest) if rest else ''}"
        return fix_dutch_compound(text) if language == "nl" else text
    if language == "ru":
        return f"{str(num2words(y, lang='ru', to='ordinal')).lower()} год"
    return cardinal(language, y)
