"""Objective values from eval cells and references: weighted normalised performance and gain retained, plain
task means for multi-objective spaces, references keyed by fidelity rung, undefined objectives reported."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from space_fixtures import space_dict, write_space

from lors_search.space import CompiledSpace, load_search_space


def load(tree: Path, **changes: object) -> CompiledSpace:
    return load_search_space(write_space(tree, space_dict(tree, **changes), f"{uuid.uuid4().hex[:8]}.yaml"))


def cells(wer: dict[str, float], bleu: dict[str, float]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for lang in ("de", "es", "fr"):
        out[f"{lang}/transcribe"] = {"wer": wer[lang], "cer": wer[lang] / 2, "n": 4}
        out[f"{lang}/translate"] = {"bleu": bleu[lang], "chrf": 50.0, "n": 4}
    return out


BASE = cells({"de": 0.6, "es": 0.6, "fr": 0.6}, {"de": 10.0, "es": 10.0, "fr": 10.0})
EXPERT = cells({"de": 0.2, "es": 0.2, "fr": 0.2}, {"de": 40.0, "es": 40.0, "fr": 40.0})
REFERENCES = {"base": BASE, "experts": {lang: EXPERT for lang in ("de", "es", "fr")}}
MODEL = cells({"de": 0.4, "es": 0.2, "fr": 0.6}, {"de": 20.0, "es": 40.0, "fr": 10.0})


def test_normalized_performance_weighted_by_task(tree: Path) -> None:
    # NP: transcribe (0.6/0.8, 1, 0.4/0.8) -> mean 0.75; translate (0.5, 1, 0.25) -> mean 0.58333
    space = load(tree)
    assert space.score(MODEL, REFERENCES) == {"normalized_performance": pytest.approx((0.75 + 7 / 12) / 2)}
    weighted = load(tree, objective={"asr_weight": 3.0, "st_weight": 1.0})
    assert weighted.score(MODEL, REFERENCES)["normalized_performance"] == pytest.approx((3 * 0.75 + 7 / 12) / 4)
    assert space.score(EXPERT, REFERENCES)["normalized_performance"] == pytest.approx(1.0)


def test_gain_retained_and_cer(tree: Path) -> None:
    space = load(tree, objective={"kind": "gain_retained"})
    # transcribe: (0.5, 1, 0) -> 0.5; translate: (1/3, 1, 0) -> 4/9
    assert space.score(MODEL, REFERENCES) == {"gain_retained": pytest.approx((0.5 + 4 / 9) / 2)}
    cer = load(tree, objective={"kind": "gain_retained", "asr_error": "cer", "st_weight": 0})
    assert cer.score(MODEL, REFERENCES)["gain_retained"] == pytest.approx(0.5)


def test_multi_objective_task_means(tree: Path) -> None:
    space = load(tree, objective={"kind": "multi", "objectives": ["asr_wer", "st_bleu", "asr_np"]})
    assert space.score(MODEL, REFERENCES) == {
        "asr_wer": pytest.approx(0.4),
        "st_bleu": pytest.approx(70 / 3),
        "asr_np": pytest.approx(0.75),
    }


def test_references_keyed_by_rung_and_other_cells_ignored(tree: Path) -> None:
    space = load(tree)
    small = {"base": BASE, "experts": {lang: MODEL for lang in ("de", "es", "fr")}}
    by_rung = {2: small, None: REFERENCES}
    extra = {**MODEL, "it/transcribe": {"wer": 1.0, "cer": 1.0, "n": 1}}
    assert space.score(extra, by_rung, None) == space.score(MODEL, REFERENCES)
    assert space.score(MODEL, by_rung, 2)["normalized_performance"] == pytest.approx(1.0)
    with pytest.raises(KeyError, match="no references for n_per_language=2"):
        space.score(MODEL, {"2": small}, 2)  # rung keys are ints (run.json's strings are turned back on reading)
    with pytest.raises(KeyError, match="no references for n_per_language=8"):
        space.score(MODEL, by_rung, 8)


def test_undefined_objectives_are_reported(tree: Path) -> None:
    space = load(tree, objective={"kind": "gain_retained"})
    no_gain = {"base": EXPERT, "experts": {lang: EXPERT for lang in ("de", "es", "fr")}}
    with pytest.raises(ValueError, match="gain_retained is undefined for these references"):
        space.scorer.check_references(no_gain)
    space.scorer.check_references(REFERENCES)
    with pytest.raises(ValueError, match="the references lack expert 'fr' metrics for cell fr/transcribe"):
        space.scorer.check_references({"base": BASE, "experts": {"de": EXPERT, "es": EXPERT}})
