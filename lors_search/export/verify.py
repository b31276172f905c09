"""Verification of an export: the dev metrics re-measured from the saved checkpoint must equal the trial's.

Exact equality is the default and what a correct export gives: the merge is deterministic (same loaders,
same SVD factors, same in-place merge), greedy decoding is deterministic on one device, and the export
replays the trial's rung schedule so decoding batches are the same. A tolerance exists only for exports on
another kind of device than the search's workers (e.g. searched on GPU, exported on CPU), where floating
point differences can flip a token; it is absolute, per metric (WER/CER as fractions, BLEU/chrF 0-100).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

Cells = Mapping[str, Mapping[str, Any]]


def compare_cells(expected: Cells, actual: Cells, tolerance: float = 0.0) -> list[str]:
    """Every difference between the trial's cells and the re-measured ones, as short text ([] = verified)."""
    problems: list[str] = []
    for cell in sorted(set(expected) | set(actual)):
        if cell not in actual:
            problems.append(f"{cell} missing after export")
            continue
        if cell not in expected:
            problems.append(f"{cell} measured after export but not in the trial")
            continue
        for metric in sorted(set(expected[cell]) | set(actual[cell])):
            want, got = expected[cell].get(metric), actual[cell].get(metric)
            if want is None or got is None:
                problems.append(f"{cell} {metric}: trial {want}, export {got}")
                continue
            if metric == "n":
                if int(want) != int(got):
                    problems.append(f"{cell} n: trial {int(want)} utterances, export {int(got)}")
                continue
            want_f, got_f = float(want), float(got)
            same = want_f == got_f or (math.isnan(want_f) and math.isnan(got_f))
            if not same and not abs(want_f - got_f) <= tolerance:
                problems.append(f"{cell} {metric}: trial {want_f!r}, export {got_f!r}")
    return problems
