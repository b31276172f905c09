"""The paired bootstrap of NP, GR and gaps (`evaluation/bootstrap.py`) on hand-made rows: its estimate is exactly
`scores` on `score_cells`, a resample is exactly `scores` on the resampled rows, a fixed seed is reproducible,
and identical models give a gap of exactly 0 with zero width."""

from __future__ import annotations

import numpy as np
import pytest

from lors_search.evaluation.bootstrap import _Layout, bootstrap_scores, gap_interval
from lors_search.evaluation.evaluator import Hypothesis
from lors_search.evaluation.metrics import score_cells
from lors_search.evaluation.scores import gain_retained, normalized_performance

REF = "one two three four five six seven eight nine ten"
EN = "the cat sat on the mat with a big red hat today"


def _with_errors(text: str, wrong: int) -> str:
    words = text.split()
    return " ".join("x" if i < wrong else w for i, w in enumerate(words))


def _rows(asr_errors: dict[str, list[int]], st_drop: dict[str, list[int]]) -> list[Hypothesis]:
    """Per language, clip j: ASR hypothesis with asr_errors[lang][j] substituted words, ST hypothesis with the
    last st_drop[lang][j] words dropped."""
    rows = []
    for language, errors in asr_errors.items():
        for j, wrong in enumerate(errors):
            clip = f"{language}-{j}"
            rows.append(Hypothesis(clip, language, "transcribe", REF, _with_errors(REF, wrong)))
            en = EN.split()
            hyp = " ".join(en[: len(en) - st_drop[language][j]])
            rows.append(Hypothesis(clip, language, "translate", EN, hyp))
    return rows


def _cells(rows):
    return score_cells([r.language for r in rows], [r.task for r in rows], [r.reference for r in rows],
                       [r.hypothesis for r in rows])


def _overall(tasks) -> float:
    return (tasks["transcribe"].mean + tasks["translate"].mean) / 2


BASE = _rows({"de": [5, 6, 4], "es": [7, 5]}, {"de": [6, 7, 8], "es": [7, 6]})
EXPERT = _rows({"de": [1, 0, 2], "es": [1, 1]}, {"de": [0, 1, 0], "es": [1, 0]})
MERGE = _rows({"de": [2, 3, 2], "es": [3, 2]}, {"de": [3, 2, 4], "es": [2, 3]})
OTHER = _rows({"de": [3, 2, 2], "es": [4, 2]}, {"de": [2, 4, 3], "es": [4, 2]})


def test_docs_example_exact() -> None:
    """docs/evaluation.md's ASR example: base WER 0.5, expert 0.1, model 0.2 -> NP 0.8/0.9, GR 0.75."""
    base = [Hypothesis("c", "de", "transcribe", REF, _with_errors(REF, 5))]
    expert = [Hypothesis("c", "de", "transcribe", REF, _with_errors(REF, 1))]
    model = [Hypothesis("c", "de", "transcribe", REF, _with_errors(REF, 2))]
    result = bootstrap_scores({"m": model}, base, expert, rounds=5, seed=1)
    assert result.estimates["m"]["gr"]["transcribe"] == pytest.approx(0.75, abs=1e-15)
    assert result.estimates["m"]["np"]["transcribe"] == pytest.approx(0.8 / 0.9, abs=1e-15)
    # One clip per language: every resample is the data itself.
    interval = result.interval("m", "gr", "transcribe")
    assert interval.low == interval.high == interval.mean == interval.estimate and interval.std == 0.0


@pytest.mark.parametrize("asr_error", ["wer", "cer"])
def test_estimate_equals_scores_on_score_cells(asr_error: str) -> None:
    result = bootstrap_scores({"merge": MERGE}, BASE, EXPERT, rounds=3, seed=0, asr_error=asr_error)
    cells, base, experts = _cells(MERGE), _cells(BASE), _cells(EXPERT)
    np_ = normalized_performance(cells, experts, asr_error=asr_error).tasks
    gr = gain_retained(cells, base, experts, asr_error=asr_error).tasks
    est = result.estimates["merge"]
    for task in ("transcribe", "translate"):
        assert est["np"][task] == np_[task].mean
        assert est["gr"][task] == gr[task].mean
    assert est["np"]["overall"] == _overall(np_)
    assert est["gr"]["overall"] == _overall(gr)


def test_each_round_equals_scores_on_the_resampled_rows() -> None:
    seed, rounds = 7, 4
    result = bootstrap_scores({"merge": MERGE}, BASE, EXPERT, rounds=rounds, seed=seed)
    layout = _Layout.of(BASE)
    rng = np.random.default_rng(seed)
    for r in range(rounds):
        counts = layout.draw(rng)
        drawn = {clip for clip, k in zip(layout.clips, counts, strict=True) for _ in range(k)}
        assert counts.sum() == 5 and len(drawn) <= 5

        def resample(rows, counts=counts):
            # Row order does not matter for corpus metrics; multiplicity does.
            by = {(row.language, row.id, row.task): row for row in rows}
            return [by[(lang, cid, task)] for (lang, cid), k in zip(layout.clips, counts, strict=True)
                    for _ in range(k) for task in ("transcribe", "translate")]

        cells, base, experts = _cells(resample(MERGE)), _cells(resample(BASE)), _cells(resample(EXPERT))
        gr = gain_retained(cells, base, experts).tasks
        np_ = normalized_performance(cells, experts).tasks
        sample = result.samples["merge"]
        for task in ("transcribe", "translate"):
            want_gr = np.nan if gr[task].mean is None else gr[task].mean
            assert sample["gr"][task][r] == pytest.approx(want_gr, abs=0, nan_ok=True)
            assert sample["np"][task][r] == np_[task].mean


def test_identical_models_gap_is_exactly_zero() -> None:
    result = bootstrap_scores({"a": MERGE, "b": list(reversed(MERGE))}, BASE, EXPERT, rounds=200, seed=3)
    for metric in ("np", "gr"):
        for scope in ("transcribe", "translate", "overall"):
            gap = gap_interval(result, "a", "b", metric, scope)
            assert (gap.estimate, gap.mean, gap.std, gap.low, gap.high) == (0.0, 0.0, 0.0, 0.0, 0.0)
            assert gap.tie


def test_fixed_seed_is_reproducible_and_paired() -> None:
    one = bootstrap_scores({"merge": MERGE, "other": OTHER}, BASE, EXPERT, rounds=300, seed=11)
    two = bootstrap_scores({"other": OTHER, "merge": MERGE}, BASE, EXPERT, rounds=300, seed=11)
    three = bootstrap_scores({"merge": MERGE, "other": OTHER}, BASE, EXPERT, rounds=300, seed=12)
    assert one.gap("merge", "other") == two.gap("merge", "other")
    assert one.gap("merge", "other") != three.gap("merge", "other")
    gap = one.gap("merge", "other", "gr", "overall")
    assert gap.low is not None and gap.high is not None and gap.low < gap.estimate < gap.high
    assert gap.rounds == 300 and gap.level == 0.95
    # Paired: the gap's samples are the difference of the models' samples round by round.
    diff = one.samples["merge"]["gr"]["overall"] - one.samples["other"]["gr"]["overall"]
    assert gap.mean == pytest.approx(float(np.nanmean(diff)), abs=1e-15)
    # The expert against itself: NP exactly 1 in every round.
    own = bootstrap_scores({"expert": EXPERT}, BASE, EXPERT, rounds=50, seed=0).interval("expert", "np", "overall")
    assert (own.low, own.high, own.std) == (1.0, 1.0, 0.0)


def test_mismatched_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="no transcribe row"):
        bootstrap_scores({"m": MERGE[2:]}, BASE, EXPERT, rounds=2)
    with pytest.raises(ValueError, match="appears twice"):
        bootstrap_scores({"m": MERGE + MERGE[:1]}, BASE, EXPERT, rounds=2)
    with pytest.raises(ValueError, match="rounds"):
        bootstrap_scores({"m": MERGE}, BASE, EXPERT, rounds=1)
