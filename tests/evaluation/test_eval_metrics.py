"""WER, CER, BLEU and chrF on strings whose values follow by hand from the definitions."""

from __future__ import annotations

import pytest

from lors_search.evaluation.metrics import (
    asr_metrics,
    cell_key,
    headline,
    score_cells,
    split_cell_key,
    st_metrics,
)


def test_wer_and_cer_pool_edits_over_the_corpus() -> None:
    # Utterance 1: one substitution (b -> x) in 3 words; utterance 2: one insertion (f) over 2 words.
    # WER = 2 edits / 5 reference words; CER: "a b c" + "d e" = 8 characters, edits b->x and " f" = 3.
    metrics = asr_metrics(["a b c", "d e"], ["a x c", "d e f"])
    assert metrics == {"wer": 2 / 5, "cer": 3 / 8, "n": 2}


def test_wer_is_computed_on_normalised_text() -> None:
    metrics = asr_metrics(["Vint-i-U, cent!"], ["vint i u cent"])
    assert metrics["wer"] == 0.0 and metrics["cer"] == 0.0


def test_wer_counts_deletions_and_exceeds_one_with_insertions() -> None:
    assert asr_metrics(["un deux trois quatre"], ["un quatre"])["wer"] == 2 / 4
    assert asr_metrics(["un"], ["un deux trois"])["wer"] == 2.0


def test_bleu_by_hand() -> None:
    # Hypothesis "a b c d f" against "a b c d e": n-gram precisions 4/5, 3/4, 2/3, 1/2, equal lengths (BP = 1).
    # BLEU = 100 * (4/5 * 3/4 * 2/3 * 1/2) ** (1/4) = 100 * 0.2 ** 0.25.
    assert st_metrics(["a b c d e"], ["a b c d f"])["bleu"] == pytest.approx(100 * 0.2**0.25, abs=1e-9)


def test_chrf_by_hand() -> None:
    # chrF ignores spaces: "abcde" vs "abcdf". Character n-gram precision = recall for n = 1..5:
    # 4/5, 3/4, 2/3, 1/2, 0/1 (no 6-grams exist, so order 6 is left out); F = their mean.
    expected = 100 * (4 / 5 + 3 / 4 + 2 / 3 + 1 / 2 + 0) / 5
    assert st_metrics(["a b c d e"], ["a b c d f"])["chrf"] == pytest.approx(expected, abs=1e-9)


def test_bleu_extremes_and_case_sensitivity() -> None:
    same = st_metrics(["three hundred and twelve"], ["three hundred and twelve"])
    assert same["bleu"] == pytest.approx(100.0) and same["chrf"] == pytest.approx(100.0)
    assert st_metrics(["three hundred"], ["seven"])["bleu"] == 0.0
    # sacrebleu's default is case-sensitive: BLEU is computed on the raw text, unlike WER.
    assert st_metrics(["one two three four"], ["One Two Three Four"])["bleu"] == 0.0


def test_score_cells_groups_by_language_and_task() -> None:
    cells = score_cells(
        ["de", "de", "fr", "de"],
        ["transcribe", "translate", "transcribe", "transcribe"],
        ["eins zwei", "one", "un", "drei"],
        ["eins drei", "one", "un", "drei"],
    )
    assert list(cells) == ["de/transcribe", "de/translate", "fr/transcribe"]
    # de/transcribe pools "eins zwei" + "drei": 1 word of 3 wrong; "zwei" -> "drei" is 2 of 13 characters.
    assert cells["de/transcribe"] == {"wer": 1 / 3, "cer": 2 / 13, "n": 2}
    assert cells["de/translate"]["n"] == 1 and cells["de/translate"]["bleu"] == pytest.approx(0.0)
    assert cells["fr/transcribe"] == {"wer": 0.0, "cer": 0.0, "n": 1}
    assert headline(cells, "transcribe", "wer") == pytest.approx((1 / 3 + 0.0) / 2)


def test_corpus_metrics_are_not_means_of_utterances() -> None:
    # Utterance WERs 1/1 and 0/3 average to 0.5; the corpus WER is 1 edit / 4 words.
    assert asr_metrics(["a", "b c d"], ["x", "b c d"])["wer"] == 1 / 4


def test_cell_keys() -> None:
    assert cell_key("ca", "translate") == "ca/translate"
    assert split_cell_key("ca/transcribe") == ("ca", "transcribe")
    for bad in ("ca", "ca/summarise", "/translate"):
        with pytest.raises(ValueError):
            split_cell_key(bad)
    with pytest.raises(ValueError):
        asr_metrics(["a"], [])
