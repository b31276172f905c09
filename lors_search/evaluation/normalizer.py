"""Whisper-style basic text normalisation for WER and CER, in the spirit of Whisper's `BasicTextNormalizer`
(Radford et al. 2022, "Robust Speech Recognition via Large-Scale Weak Supervision", appendix C), keeping
diacritics because they distinguish words in the benchmark's languages (French "ou" / "où", Spanish "si" / "sí")."""

from __future__ import annotations

import re
import unicodedata

# Bracketed spans are annotations (noise tags, speaker labels, Whisper's own special tokens), never words.
_BRACKETED = re.compile(r"\[[^\]]*\]|<[^>]*>|\([^)]*\)")

# Unicode general categories replaced by a space: punctuation (P*), symbols (S*), control/format (C*).
# Marks (M*) are kept: after NFKC a remaining combining mark belongs to its letter.
_SPACE_CATEGORIES = frozenset("PSC")


def normalize_text(text: str) -> str:
    """The text compared by WER/CER.

    Steps, in order: (1) Unicode NFKC (compatibility forms such as full-width letters or ligatures become
    plain letters, composed accents stay composed); (2) lower case (`str.lower`); (3) every span between
    square brackets, angle brackets or parentheses, brackets included, becomes a space; (4) every
    character of Unicode category P (punctuation), S (symbol) or C (control, format) becomes a space, so
    "vint-i-u" becomes "vint i u" and "l'any" becomes "l any"; (5) runs of whitespace become one space and
    the ends are stripped.
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = _BRACKETED.sub(" ", text)
    text = "".join(" " if unicodedata.category(ch)[0] in _SPACE_CATEGORIES else ch for ch in text)
    return " ".join(text.split())
