"""Evaluation sets: nested stratified multi-fidelity subsets, filters, the test-split guard, clear errors."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from eval_fixtures import CLIPS_PER_LANGUAGE, LANGUAGES, WINDOW_SECONDS

from lors_search.errors import UserError
from lors_search.evaluation.evalset import EvalSet, load_eval_set
from lors_search.evaluation.fidelity import fidelity_ranks


def test_dev_set_rows_and_references(dev) -> None:
    assert dev.split == "dev" and dev.languages == LANGUAGES
    assert dev.n_clips == 3 * CLIPS_PER_LANGUAGE["dev"] and dev.n_rows == 2 * dev.n_clips
    assert dev.features.shape == (dev.n_clips, 80, 100 * WINDOW_SECONDS)
    clip = 5
    assert dev.row_task(2 * clip) == "transcribe" and dev.row_task(2 * clip + 1) == "translate"
    assert dev.row_reference(2 * clip) == dev.transcripts[clip]
    assert dev.row_reference(2 * clip + 1) == dev.translations[clip]
    assert dev.row_language(2 * clip) == dev.clip_languages[clip]


def test_subsets_are_nested_and_stratified(dev) -> None:
    previous: set[int] = set()
    for n in range(1, CLIPS_PER_LANGUAGE["dev"] + 1):
        clips = dev.clips(n)
        per_language = Counter(dev.clip_languages[c] for c in clips)
        assert per_language == {lang: n for lang in LANGUAGES}
        assert previous <= set(clips.tolist())
        previous = set(clips.tolist())
        # Languages interleave: the order is rank 0 of each language, then rank 1, ...
        assert [dev.clip_languages[c] for c in clips[:3]] == list(LANGUAGES)
    assert sorted(dev.clips(None).tolist()) == list(range(dev.n_clips))
    assert sorted(dev.clips(1000).tolist()) == list(range(dev.n_clips))
    rows = dev.rows(2)
    assert rows.tolist() == [r for c in dev.clips(2) for r in (2 * c, 2 * c + 1)]


def test_fidelity_ranks_spread_strata_evenly() -> None:
    languages = ["de"] * 40 + ["fr"] * 9
    strata = ["a"] * 30 + ["b"] * 10 + ["x"] * 9
    ranks = fidelity_ranks(languages, strata, seed=7)
    members = np.arange(40)
    for n in range(1, 41):
        first = members[ranks[:40] < n]
        b = sum(strata[i] == "b" for i in first)
        assert abs(b - n * 10 / 40) <= 1, (n, b)
    assert sorted(ranks[40:].tolist()) == list(range(9))
    # Another seed gives another order; dropping a language leaves the others' order unchanged.
    assert not np.array_equal(fidelity_ranks(languages, strata, seed=8)[:40], ranks[:40])
    assert np.array_equal(fidelity_ranks(languages[:40], strata[:40], seed=7), ranks[:40])


def test_language_and_task_filters(bench, dev) -> None:
    only = load_eval_set(bench.data_dir, "dev", window_seconds=WINDOW_SECONDS, languages=["fr"], tasks=["translate"])
    assert only.languages == ("fr",) and only.tasks == ("translate",)
    assert only.n_rows == only.n_clips == CLIPS_PER_LANGUAGE["dev"]
    assert all(only.row_reference(r) == only.translations[r] for r in range(only.n_rows))
    # Same fr order as in the full set, and the same features.
    full_fr = [dev.clip_ids[c] for c in dev.clips(5) if dev.clip_languages[c] == "fr"]
    assert [only.clip_ids[c] for c in only.clips(5)] == full_fr
    index = dev.clip_ids.index(only.clip_ids[0])
    assert np.array_equal(np.asarray(only.features[0]), np.asarray(dev.features[index]))
    both = load_eval_set(bench.data_dir, "dev", window_seconds=WINDOW_SECONDS, tasks=["translate", "transcribe"])
    assert both.tasks == ("transcribe", "translate")


def test_test_split_needs_allow_test(bench) -> None:
    with pytest.raises(UserError, match="test split is reserved for final reports"):
        load_eval_set(bench.data_dir, "test", window_seconds=WINDOW_SECONDS)
    test = load_eval_set(bench.data_dir, "test", window_seconds=WINDOW_SECONDS, allow_test=True)
    assert test.split == "test" and test.n_clips == 3 * CLIPS_PER_LANGUAGE["test"]


def test_clear_errors(bench, tmp_path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        load_eval_set(tmp_path / "missing", "dev", window_seconds=WINDOW_SECONDS)
    with pytest.raises(UserError, match="is not a dataset saved with save_to_disk"):
        load_eval_set(tmp_path, "dev", window_seconds=WINDOW_SECONDS)
    with pytest.raises(UserError, match="unknown split 'validation'"):
        load_eval_set(bench.data_dir, "validation", window_seconds=WINDOW_SECONDS)
    with pytest.raises(UserError, match=r"language\(s\) sv not in the dev split .* \(it has de, es, fr\)"):
        load_eval_set(bench.data_dir, "dev", window_seconds=WINDOW_SECONDS, languages=["de", "sv"])
    with pytest.raises(UserError, match=r"unknown task\(s\) summarise"):
        load_eval_set(bench.data_dir, "dev", window_seconds=WINDOW_SECONDS, tasks=["summarise"])


def test_missing_split_and_columns(tmp_path) -> None:
    import datasets

    part = datasets.Dataset.from_dict({"id": ["a"], "language": ["de"], "transcript": ["eins"]})
    datasets.DatasetDict({"train": part, "dev": part}).save_to_disk(str(tmp_path / "d"))
    with pytest.raises(UserError, match=r"has no 'test' split \(it has train, dev\)"):
        load_eval_set(tmp_path / "d", "test", window_seconds=WINDOW_SECONDS, allow_test=True)
    with pytest.raises(UserError, match=r"lacks column\(s\) translation"):
        load_eval_set(tmp_path / "d", "dev", window_seconds=WINDOW_SECONDS)


def test_build_rejects_an_empty_set() -> None:
    with pytest.raises(UserError, match="no clips"):
        EvalSet.build(np.zeros((0, 80, 100)), [], [], [], [])
