"""The score cache kept with the dataset: an unchanged model is not decoded again (its rows come back exactly,
any smaller fidelity as a prefix), a changed one is; the key follows the weights, the data and the settings."""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import pytest
import torch

from lors_search.evaluation.evaluator import Evaluator
from lors_search.evaluation.score_cache import (
    EvalSettings,
    ScoreCache,
    cached_rows,
    data_fingerprint,
    model_dir_hash,
    state_hash,
)


def _scorer(model, tokenizer, dev, cache: ScoreCache, settings: EvalSettings, calls: list):
    def rows(n):
        def decode(missing):
            calls.append(missing)
            evaluator = Evaluator(model, tokenizer, dev, batch_size=8)
            ranks = {dev.clip_ids[i]: int(dev.ranks[i]) for i in range(dev.n_clips)}
            hyps = [h for h in evaluator.evaluate(n).hypotheses if h.language in missing]
            return hyps, ranks

        return cached_rows(cache, state_hash(model.state_dict()), "dev", dev.languages, settings, n, decode)

    return rows


def test_unchanged_model_is_not_rescored_changed_one_is(model, tokenizer, dev, bench, tmp_path: Path) -> None:
    cache = ScoreCache(bench.data_dir, root=tmp_path / "scores")
    settings = EvalSettings(window_seconds=2, tasks=dev.tasks, device="cpu")
    calls: list = []
    rows = _scorer(model, tokenizer, dev, cache, settings, calls)
    first = rows(None)
    assert calls == [dev.languages] and cache.misses == len(dev.languages) and cache.hits == 0
    again = rows(None)
    assert calls == [dev.languages] and cache.hits == len(dev.languages)  # nothing decoded
    assert sorted(again, key=repr) == sorted(first, key=repr)
    # A smaller fidelity is the prefix of the stored order: exactly what the evaluator gives for it.
    small = rows(3)
    assert len(calls) == 1
    direct = Evaluator(model, tokenizer, dev, batch_size=5).evaluate(3).hypotheses
    assert sorted(small, key=repr) == sorted(direct, key=repr)

    changed = copy.deepcopy(model)
    with torch.no_grad():
        changed.model.decoder.layer_norm.weight.add_(0.5)
    rows_changed = _scorer(changed, tokenizer, dev, cache, settings, calls)
    rows_changed(None)
    assert len(calls) == 2  # other weights, another key: decoded
    rows_changed(None)
    assert len(calls) == 2
    # Other evaluation settings (here: the device type) never read the CPU entries.
    rows_gpu = _scorer(model, tokenizer, dev, cache, EvalSettings(2, dev.tasks, "cuda"), calls)
    rows_gpu(None)
    assert len(calls) == 3


def test_keys_follow_the_files(bench, tmp_path: Path) -> None:
    copy_dir = tmp_path / "model"
    shutil.copytree(bench.model_dir, copy_dir)
    assert model_dir_hash(copy_dir) == model_dir_hash(bench.model_dir)
    weights = copy_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # one bit of one weight
    weights.write_bytes(bytes(data))
    assert model_dir_hash(copy_dir) != model_dir_hash(bench.model_dir)

    data_copy = tmp_path / "data"
    shutil.copytree(bench.data_dir, data_copy)
    assert data_fingerprint(data_copy, "dev") == data_fingerprint(bench.data_dir, "dev")
    assert data_fingerprint(data_copy, "dev") != data_fingerprint(data_copy, "test")
    (data_copy / "dev" / "state.json").write_text("{}")
    assert data_fingerprint(data_copy, "dev") != data_fingerprint(bench.data_dir, "dev")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_cache_still_scores(model, tokenizer, dev, bench, tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o500)
    try:
        cache = ScoreCache(bench.data_dir, root=root / "scores")
        rows = _scorer(model, tokenizer, dev, cache, EvalSettings(2, dev.tasks, "cpu"), [])
        assert len(rows(2)) == 2 * len(dev.languages) * len(dev.tasks)
        assert not cache.writable
    finally:
        root.chmod(0o700)
