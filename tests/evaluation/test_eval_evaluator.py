"""The incremental evaluator: each row decoded once per set of weights, results equal to a fresh evaluation."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from lors_search.errors import UserError
from lors_search.evaluation.evalset import EvalSet
from lors_search.evaluation.evaluator import Evaluator
from lors_search.evaluation.metrics import score_cells


def test_multi_fidelity_decodes_each_row_once(model, tokenizer, dev) -> None:
    evaluator = Evaluator(model, tokenizer, dev, batch_size=8)
    small = evaluator.evaluate(2)
    assert small.rows_decoded == 2 * 3 * 2 and small.n == 12
    assert {key: cell["n"] for key, cell in small.cells.items()} == {
        f"{lang}/{task}": 2 for lang in ("de", "es", "fr") for task in ("transcribe", "translate")
    }
    middle = evaluator.evaluate(5)
    assert middle.rows_decoded == 2 * 3 * (5 - 2)
    full = evaluator.evaluate()
    assert full.rows_decoded == dev.n_rows - 2 * 3 * 5
    again = evaluator.evaluate(5)
    assert again.rows_decoded == 0 and again.decode_seconds == 0.0
    assert evaluator.rows_decoded == dev.n_rows  # every row decoded exactly once overall

    fresh = Evaluator(model, tokenizer, dev, batch_size=32)
    assert _outcome(fresh.evaluate()) == _outcome(full)
    assert _outcome(Evaluator(model, tokenizer, dev, batch_size=3).evaluate(5)) == _outcome(again)
    assert again.cells == middle.cells and again.hypotheses == middle.hypotheses


def _outcome(result):
    """What must not depend on batching or history: metrics and hypotheses (not timings or counters)."""
    return result.cells, result.hypotheses


def test_metrics_are_those_of_the_hypotheses(model, tokenizer, dev) -> None:
    result = Evaluator(model, tokenizer, dev).evaluate(4)
    hyps = result.hypotheses
    assert result.cells == score_cells(
        [h.language for h in hyps], [h.task for h in hyps], [h.reference for h in hyps], [h.hypothesis for h in hyps]
    )
    # Each hypothesis is the decoded text of transformers' generate for that clip, language and task.
    for h in hyps[:4]:
        clip = dev.clip_ids.index(h.id)
        features = torch.from_numpy(np.asarray(dev.features[clip : clip + 1], dtype=np.float32))
        with torch.inference_mode():
            out = model.generate(features, language=h.language, task=h.task)
        assert tokenizer.decode(out[0], skip_special_tokens=True).strip() == h.hypothesis
    # The fixture model learned something: fewer character errors than characters, on every language.
    assert all(cell["cer"] < 0.9 for key, cell in result.cells.items() if key.endswith("/transcribe"))


def test_reset_after_weights_change(model, tokenizer, dev) -> None:
    changed = copy.deepcopy(model)
    evaluator = Evaluator(changed, tokenizer, dev, batch_size=16)
    before = evaluator.evaluate(3)
    with torch.no_grad():  # an in-place "merge": the same resident model, other weights
        changed.model.decoder.layers[0].fc2.weight.mul_(-3.0)
    stale = evaluator.evaluate(3)
    assert stale.rows_decoded == 0 and stale.hypotheses == before.hypotheses
    evaluator.reset()
    after = evaluator.evaluate(3)
    assert after.rows_decoded == before.n
    assert after.hypotheses != before.hypotheses
    assert _outcome(after) == _outcome(Evaluator(changed, tokenizer, dev).evaluate(3))


def test_window_mismatch_is_refused(model, tokenizer, dev) -> None:
    wide = EvalSet.build(
        np.zeros((2, 80, 3000), dtype=np.float16), ["a", "b"], ["de", "fr"], ["eins", "un"], ["one", "one"]
    )
    with pytest.raises(UserError, match="features have 3000 frames per clip but the model needs 200"):
        Evaluator(model, tokenizer, wide)
    with pytest.raises(UserError, match="batch size must be at least 1"):
        Evaluator(model, tokenizer, dev, batch_size=0)


def test_read_only_memory_mapped_features(model, tokenizer, dev, tmp_path) -> None:
    """The speech package hands out cached features as read-only memory maps."""
    np.save(tmp_path / "dev.npy", np.asarray(dev.features, dtype=np.float16))
    mapped = np.load(tmp_path / "dev.npy", mmap_mode="r")
    assert not mapped.flags.writeable
    same = EvalSet.build(mapped, dev.clip_ids, dev.clip_languages, dev.transcripts, dev.translations)
    # Built without strata, so the multi-fidelity order differs: compare full evaluations, rows sorted.
    expected = Evaluator(model, tokenizer, dev).evaluate()
    result = Evaluator(model, tokenizer, same, batch_size=5).evaluate()
    assert result.cells == expected.cells
    assert sorted(result.hypotheses, key=repr) == sorted(expected.hypotheses, key=repr)
