"""Constants of the evaluation tests' tiny benchmark (a uniquely named module, so test files can import it
without colliding with other folders' conftest modules)."""

from __future__ import annotations

from tiny_bench_kit import WINDOW_SECONDS, corpus_spec

__all__ = ["CLIPS_PER_LANGUAGE", "CORPUS_SPEC", "LANGUAGES", "WINDOW_SECONDS"]

LANGUAGES = ("de", "es", "fr")
CLIPS_PER_LANGUAGE = {"train": 40, "dev": 12, "test": 4}
# A tiny corpus built by lors_search.speech: real eSpeak NG speech of short numbers and times in 3 languages
# (the spec shared with tests/export and tests/search, with a third language).
CORPUS_SPEC = corpus_spec(LANGUAGES, CLIPS_PER_LANGUAGE)
