"""A fixed, seeded, nested and stratified order of evaluation clips for multi-fidelity search (ASHA-style
successive halving scores a trial on the first n clips of each language, then on more).

Each language is ordered on its own (seeded by the seed and the language code, so filtering languages does not
change any order), and within a language the clips of each stratum (e.g. content form x voice domain) are spread
evenly over the order: every prefix holds each stratum in proportion to its size, to within one clip.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np


def fidelity_ranks(languages: Sequence[str], strata: Sequence[str] | None = None, *, seed: int = 0) -> np.ndarray:
    """Rank of each clip within its language (0 = evaluated first); "the first n clips of language L" are the
    clips of L with rank < n, so the subset for n is contained in the subset for any m > n.

    Clip j of a stratum of size m (after a seeded shuffle) is placed at (j + u) / m, u a seeded offset in
    [0, 1) drawn per stratum; clips are then taken by increasing place (ties by a seeded stratum order).
    """
    labels = np.asarray(languages, dtype=object)
    groups = np.asarray(strata if strata is not None else [""] * len(labels), dtype=object)
    if len(groups) != len(labels):
        raise ValueError(f"{len(labels)} languages but {len(groups)} strata")
    ranks = np.empty(len(labels), dtype=np.int64)
    for language in sorted(set(labels.tolist())):
        members = np.flatnonzero(labels == language)
        rng = np.random.default_rng([seed, zlib.crc32(language.encode("utf-8"))])
        place = np.empty(len(members))
        tiebreak = np.empty(len(members))
        for stratum in sorted(set(groups[members].tolist())):
            inside = np.flatnonzero(groups[members] == stratum)
            shuffled = inside[rng.permutation(len(inside))]
            place[shuffled] = (np.arange(len(inside)) + rng.random()) / len(inside)
            tiebreak[shuffled] = rng.random()
        ranks[members[np.lexsort((tiebreak, place))]] = np.arange(len(members))
    return ranks


def fidelity_order(languages: Sequence[str], ranks: np.ndarray) -> np.ndarray:
    """All clip indices ordered by rank, languages interleaved (rank 0 of every language, then rank 1, ...),
    so every prefix of the order also has the same language mix."""
    language_index = {code: i for i, code in enumerate(sorted(set(languages)))}
    codes = np.asarray([language_index[code] for code in languages], dtype=np.int64)
    return np.lexsort((codes, ranks))
