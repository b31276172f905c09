"""Constants of the evaluation tests' tiny benchmark (a uniquely named module, so test files can import it
without colliding with other folders' conftest modules)."""

from __future__ import annotations

LANGUAGES = ("de", "es", "fr")
CLIPS_PER_LANGUAGE = {"train": 40, "dev": 12, "test": 4}
WINDOW_SECONDS = 2
_FORMS = {"cardinal": {"range": [0, 99], "weight": 2}, "clock": {}}
# A tiny corpus built by lors_search.speech: real eSpeak NG speech of short numbers and times in 3 languages.
CORPUS_SPEC = {
    "languages": list(LANGUAGES),
    "domains": {"clean": {"variants": ["", "m1", "f2"], "rate": [160, 200], "pitch": [30, 70]}},
    "subsets": [
        {"split": split, "tag": "base", "domain": "clean", "clips_per_language": count, "forms": _FORMS}
        for split, count in CLIPS_PER_LANGUAGE.items()
    ],
    "holdout": {"dev": 0.3, "test": 0.2},
    "seed": 3,
    "window_seconds": WINDOW_SECONDS,
}
