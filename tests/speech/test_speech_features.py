"""Cached log-mel features: shape, dtype, row order, read-only memory maps, reuse, and recomputation when
the data or the window changes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import numpy as np
import pytest

from lors_search.errors import UserError
from lors_search.speech.features import feature_extractor, features_for, load_features


@pytest.fixture()
def corpus_copy(tiny_corpus: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(tiny_corpus, target, ignore=shutil.ignore_patterns("features"))
    return target


def test_features_have_the_window_shape_and_follow_row_order(corpus_copy: Path) -> None:
    dev = datasets.load_from_disk(str(corpus_copy))["dev"]
    feats = load_features(corpus_copy, "dev")
    assert feats.shape == (len(dev), 80, 500) and feats.dtype == np.float16
    assert isinstance(feats, np.memmap) and not feats.flags.writeable
    for row in (0, 5, len(dev) - 1):
        alone = features_for([np.asarray(dev[row]["audio"], dtype=np.float32)], 5)[0]
        assert np.array_equal(feats[row], alone)
    # Identical to the real extractor's own output, rounded to float16.
    reference = feature_extractor(5)(
        [np.asarray(dev[2]["audio"], dtype=np.float32)], sampling_rate=16_000, return_tensors="np"
    )["input_features"][0]
    assert np.array_equal(feats[2], reference.astype(np.float16))
    assert not np.array_equal(feats[0], feats[1])


def test_a_30_second_window_pads_the_same_audio(corpus_copy: Path) -> None:
    short, long = load_features(corpus_copy, "test"), load_features(corpus_copy, "test", window_seconds=30)
    assert long.shape == (short.shape[0], 80, 3000)
    cache = corpus_copy / "features"
    assert (cache / "test-30s.npy").is_file() and (cache / "test-5s.npy").is_file()


def test_the_cache_is_reused(corpus_copy: Path) -> None:
    first = load_features(corpus_copy, "test")
    cached = corpus_copy / "features" / "test-5s.npy"
    stamp = cached.stat().st_mtime_ns
    again = load_features(corpus_copy, "test")
    assert cached.stat().st_mtime_ns == stamp and np.array_equal(first, again)


def test_a_stale_cache_is_recomputed(corpus_copy: Path, tmp_path: Path) -> None:
    old = load_features(corpus_copy, "dev")
    cached = corpus_copy / "features" / "dev-5s.npy"
    # Replace the dev split by itself reversed: same directory, same size, different content.
    splits = datasets.load_from_disk(str(corpus_copy))
    last = len(splits["dev"]) - 1
    changed = datasets.DatasetDict({**splits, "dev": splits["dev"].select(range(last, -1, -1)).flatten_indices()})
    rebuilt = tmp_path / "rebuilt"
    changed.save_to_disk(str(rebuilt))
    for name in ("dev", "dataset_dict.json"):
        target = corpus_copy / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
        shutil.move(str(rebuilt / name), target)
    new = load_features(corpus_copy, "dev")
    assert new.shape == old.shape and np.array_equal(new[0], old[last]) and not np.array_equal(new[0], old[0])
    # A tampered fingerprint is also caught.
    meta = cached.with_suffix(".json")
    meta.write_text(json.dumps({"fingerprint": "0" * 64, "shape": list(new.shape)}))
    stamp = cached.stat().st_mtime_ns
    load_features(corpus_copy, "dev")
    assert cached.stat().st_mtime_ns != stamp


def test_bad_requests_are_user_errors(corpus_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no split 'validation'"):
        load_features(corpus_copy, "validation")
    with pytest.raises(UserError, match="not a dataset"):
        load_features(tmp_path / "nowhere", "dev", window_seconds=5)
    with pytest.raises(UserError, match="longer than the 1-s window"):
        load_features(corpus_copy, "dev", window_seconds=1)
    assert not (corpus_copy / "features" / "dev-1s.npy").exists()
    assert not [p for p in (corpus_copy / "features").iterdir() if p.name.startswith(".")]


def test_features_for_ad_hoc_audio() -> None:
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000)).astype(np.float32)
    feats = features_for([tone, tone[:8000], np.zeros(10, dtype=np.float32)], 2)
    assert feats.shape == (3, 80, 200) and feats.dtype == np.float16
    assert np.array_equal(feats[0][:, :40], feats[1][:, :40])  # same start, independent of batch mates
    assert features_for([], 5).shape == (0, 80, 500)
