"""The report's headline tables on hand-made rows: the numbers are `evaluation.scores` on `score_cells` (to the
printed digits), a merge identical to task arithmetic is a tie with a zero-width gap, and a merge far better
than the recipes is not."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lors_search.evaluation.evaluator import Hypothesis
from lors_search.evaluation.metrics import score_cells
from lors_search.evaluation.scores import gain_retained, normalized_performance
from lors_search.report.compare import ModelScores
from lors_search.report.headline import headline_html, split_bootstrap

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_report import Page

REF = "one two three four five six seven eight nine ten"
EN = "the cat sat on the mat with a big red hat today"


def _rows(asr: dict[str, list[int]], st: dict[str, list[int]]) -> tuple[Hypothesis, ...]:
    rows = []
    for language, errors in asr.items():
        for j, wrong in enumerate(errors):
            words = REF.split()
            hyp = " ".join("x" if i < wrong else w for i, w in enumerate(words))
            en = EN.split()
            rows.append(Hypothesis(f"{language}{j}", language, "transcribe", REF, hyp))
            rows.append(Hypothesis(f"{language}{j}", language, "translate", EN, " ".join(en[: len(en) - st[language][j]])))
    return tuple(rows)


BASE = _rows({"de": [5, 6, 4, 6], "es": [7, 5, 6]}, {"de": [6, 7, 8, 7], "es": [7, 6, 8]})
EXPERT = _rows({"de": [1, 0, 2, 1], "es": [1, 1, 0]}, {"de": [0, 1, 0, 0], "es": [1, 0, 0]})
TA = _rows({"de": [3, 2, 3, 2], "es": [3, 3, 2]}, {"de": [3, 3, 4, 2], "es": [2, 3, 3]})
LORS = _rows({"de": [4, 3, 3, 3], "es": [4, 3, 3]}, {"de": [4, 3, 4, 3], "es": [3, 4, 3]})
GOOD = _rows({"de": [1, 0, 1, 1], "es": [1, 1, 0]}, {"de": [0, 1, 0, 1], "es": [1, 0, 1]})


def _column(label: str, kind: str, rows: tuple[Hypothesis, ...]) -> ModelScores:
    return ModelScores(label, kind, test={}, test_rows=rows)


def _cells(rows):
    return score_cells([r.language for r in rows], [r.task for r in rows], [r.reference for r in rows],
                       [r.hypothesis for r in rows])


def _page(best_rows, asr_error="wer") -> tuple[Page, object]:
    columns = [_column("best (trial 3)", "best", best_rows), _column("base", "base", BASE),
               _column("expert (own language)", "expert", EXPERT), _column("task arithmetic (1/2)", "task_arithmetic", TA),
               _column("LoRS paper defaults", "paper_lors", LORS)]
    result = split_bootstrap(columns, "test", asr_error, rounds=300, seed=0)
    assert result is not None
    html = headline_html(result, columns, "test", asr_error, table_prefix="headline-test")
    return Page(f"<html><body>{html}</body></html>"), result


@pytest.mark.parametrize("asr_error", ["wer", "cer"])
def test_headline_numbers_are_the_scores(asr_error: str) -> None:
    page, _ = _page(GOOD, asr_error)
    best = page.tables["headline-test-best"]
    assert best[0][:3] == ["task", "NP", "GR"]
    cells, base, experts = _cells(GOOD), _cells(BASE), _cells(EXPERT)
    np_ = normalized_performance(cells, experts, asr_error=asr_error).tasks
    gr = gain_retained(cells, base, experts, asr_error=asr_error).tasks
    rows = {row[0]: row for row in best[1:]}
    asr, st, overall = (rows["speech recognition (ASR)"], rows["translation into English (ST)"],
                        rows["overall (mean of the tasks)"])
    assert asr[1].split(" [")[0] == f"{np_['transcribe'].mean:.3f}"
    assert asr[2].split(" [")[0] == f"{gr['transcribe'].mean:.3f}"
    assert st[1].split(" [")[0] == f"{np_['translate'].mean:.3f}"
    assert st[2].split(" [")[0] == f"{gr['translate'].mean:.3f}"
    assert overall[2].split(" [")[0] == f"{(gr['transcribe'].mean + gr['translate'].mean) / 2:.3f}"
    # The gap to task arithmetic is the difference of the two models' scores.
    ta_gr = gain_retained(_cells(TA), base, experts, asr_error=asr_error).tasks["transcribe"].mean
    assert asr[4].split(" [")[0] == f"{gr['transcribe'].mean - ta_gr:+.3f}"
    assert asr[4].endswith("better")  # GOOD is near the experts, TA keeps about half
    models = {row[0]: row for row in page.tables["headline-test-models"][1:]}
    assert set(models) == {"best (trial 3)", "task arithmetic (1/2)", "LoRS paper defaults"}


def test_best_equal_to_task_arithmetic_is_a_tie_of_width_zero() -> None:
    page, result = _page(TA)
    rows = page.tables["headline-test-best"][1:]
    head = page.tables["headline-test-best"][0]
    column = head.index("GR gap: best - task arithmetic (1/2)")
    for row in rows:
        assert row[column] == "+0.000 [+0.000, +0.000] tie"
    gap = result.gap("best (trial 3)", "task arithmetic (1/2)", "gr", "overall")
    assert (gap.low, gap.high, gap.std) == (0.0, 0.0, 0.0)
