"""Normalised performance and fraction of gain retained on hand-computed numbers."""

from __future__ import annotations

import pytest

from lors_search.evaluation.scores import cell_error, cell_score, gain_retained, normalized_performance

EXPERTS = {
    "de/transcribe": {"wer": 0.10, "cer": 0.05, "n": 10},
    "de/translate": {"bleu": 40.0, "chrf": 60.0, "n": 10},
    "fr/transcribe": {"wer": 0.20, "cer": 0.10, "n": 10},
    "fr/translate": {"bleu": 50.0, "chrf": 70.0, "n": 10},
}
BASE = {
    "de/transcribe": {"wer": 0.50, "cer": 0.25, "n": 10},
    "de/translate": {"bleu": 20.0, "chrf": 40.0, "n": 10},
    "fr/transcribe": {"wer": 1.40, "cer": 0.60, "n": 10},  # above 1: clipped to 1 for the gain
    "fr/translate": {"bleu": 10.0, "chrf": 30.0, "n": 10},
}
MODEL = {
    "de/transcribe": {"wer": 0.20, "cer": 0.10, "n": 10},
    "de/translate": {"bleu": 30.0, "chrf": 50.0, "n": 10},
    "fr/transcribe": {"wer": 0.60, "cer": 0.20, "n": 10},
    "fr/translate": {"bleu": 5.0, "chrf": 20.0, "n": 10},
}


def test_cell_score_and_error() -> None:
    assert cell_score("de/transcribe", {"wer": 0.25}) == 0.75
    assert cell_score("de/transcribe", {"wer": 1.5}) == 0.0
    assert cell_score("de/transcribe", {"wer": 0.5, "cer": 0.2}, "cer") == pytest.approx(0.8)
    assert cell_score("de/translate", {"bleu": 33.0}) == 33.0
    assert cell_error("de/transcribe", {"wer": 1.5}) == 1.0
    assert cell_error("de/translate", {"bleu": 33.0}) == -33.0
    with pytest.raises(ValueError):
        cell_score("de/transcribe", {"wer": 0.1}, "ter")


def test_normalized_performance_by_hand() -> None:
    np_ = normalized_performance(MODEL, EXPERTS)
    # ASR: (1 - 0.2) / (1 - 0.1) = 8/9 and (1 - 0.6) / (1 - 0.2) = 1/2; ST: 30/40 and 5/50.
    assert np_.cells == pytest.approx(
        {"de/transcribe": 8 / 9, "de/translate": 0.75, "fr/transcribe": 0.5, "fr/translate": 0.1}
    )
    assert np_.mean == pytest.approx((8 / 9 + 0.75 + 0.5 + 0.1) / 4)
    assert np_.tasks["transcribe"].mean == pytest.approx((8 / 9 + 0.5) / 2)
    assert np_.tasks["translate"].median == pytest.approx((0.75 + 0.1) / 2)


def test_normalized_performance_with_cer_and_an_expert_scoring_zero() -> None:
    experts = dict(EXPERTS, **{"fr/translate": {"bleu": 0.0, "chrf": 5.0, "n": 10}})
    np_ = normalized_performance(MODEL, experts, asr_error="cer")
    # CER: (1 - 0.1) / (1 - 0.05) = 18/19 and (1 - 0.2) / (1 - 0.1) = 8/9; fr/translate undefined.
    assert np_.cells["de/transcribe"] == pytest.approx(18 / 19)
    assert np_.cells["fr/transcribe"] == pytest.approx(8 / 9)
    assert np_.cells["fr/translate"] is None
    assert np_.mean == pytest.approx((18 / 19 + 8 / 9 + 0.75) / 3)
    assert np_.tasks["translate"].undefined == ("fr/translate",)
    assert np_.tasks["translate"].defined == 1


def test_gain_retained_by_hand() -> None:
    gr = gain_retained(MODEL, BASE, EXPERTS)
    # de ASR: (0.5 - 0.2) / (0.5 - 0.1) = 3/4; fr ASR: base clipped to 1: (1 - 0.6) / (1 - 0.2) = 1/2.
    # de ST: (-20 + 30) / (-20 + 40) = 1/2; fr ST: (-10 + 5) / (-10 + 50) = -1/8 (worse than the base).
    assert gr.cells == pytest.approx(
        {"de/transcribe": 0.75, "fr/transcribe": 0.5, "de/translate": 0.5, "fr/translate": -0.125}
    )
    assert gr.tasks["transcribe"].mean == pytest.approx(0.625)
    assert gr.tasks["transcribe"].median == pytest.approx(0.625)
    assert gr.tasks["translate"].mean == pytest.approx((0.5 - 0.125) / 2)


def test_gain_retained_median_and_undefined_cells() -> None:
    experts = dict(EXPERTS, **{"de/transcribe": {"wer": 0.5, "cer": 0.3, "n": 10}})  # no gain over the base
    gr = gain_retained(MODEL, BASE, experts)
    assert gr.cells["de/transcribe"] is None
    assert gr.tasks["transcribe"].undefined == ("de/transcribe",)
    assert gr.tasks["transcribe"].mean == pytest.approx(0.5)
    three = {"a/translate": 0.0, "b/translate": 0.0, "c/translate": 0.0}
    models = {"a/translate": {"bleu": 20.0}, "b/translate": {"bleu": 11.0}, "c/translate": {"bleu": 90.0}}
    gr = gain_retained(models, {k: {"bleu": 10.0} for k in three}, {k: {"bleu": 30.0} for k in three})
    assert gr.cells == pytest.approx({"a/translate": 0.5, "b/translate": 0.05, "c/translate": 4.0})
    assert gr.tasks["translate"].median == pytest.approx(0.5)
    assert gr.tasks["translate"].mean == pytest.approx(4.55 / 3)


def test_missing_reference_cells_are_refused() -> None:
    with pytest.raises(ValueError, match="no expert metrics for cell de/transcribe"):
        normalized_performance(MODEL, {})
    with pytest.raises(ValueError, match="no base metrics"):
        gain_retained(MODEL, {}, EXPERTS)
