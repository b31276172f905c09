"""The search's references (the base and each expert, unmerged, at every rung) go through the score cache kept
with the dataset: a model scored before (by the demo's scoring phase, a report or an earlier search) is not
decoded again and gives exactly the cells a direct evaluation gives; a changed model is decoded."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from search_fixtures import space_dict

RUNGS = [3, 12]


def _direct_cells(model_dir: Path, data_dir: Path, languages: tuple[str, ...], n: int) -> dict:
    from lors_search.evaluation.decoding import window_seconds
    from lors_search.evaluation.evalset import load_eval_set
    from lors_search.evaluation.evaluator import Evaluator
    from lors_search.evaluation.model_dir import load_model_dir

    model, tokenizer = load_model_dir(model_dir, "cpu")
    es = load_eval_set(data_dir, "dev", window_seconds=window_seconds(model.config), languages=languages)
    return Evaluator(model, tokenizer, es, batch_size=5).evaluate(n).cells


@pytest.fixture(scope="module")
def worker_on_copy(tiny_bench: Path, tmp_path_factory: pytest.TempPathFactory):
    """An in-process worker (the actors' code without Ray) over a copy of the tiny bench's data, so its score
    cache starts empty."""
    from lors_search.runtime.local import local_worker
    from lors_search.runtime.spec import spec_from_space
    from lors_search.space import load_search_space

    root = tmp_path_factory.mktemp("refs-cache")
    data = root / "data"
    shutil.copytree(tiny_bench / "data", data, ignore=shutil.ignore_patterns("scores"))
    path = root / "space.yaml"
    path.write_text(yaml.safe_dump(space_dict(tiny_bench, data={"path": str(data)}), sort_keys=False))
    torch.set_num_threads(1)
    return local_worker(spec_from_space(load_search_space(path))), root


def test_references_come_from_the_cache_once_scored(worker_on_copy, tiny_bench: Path) -> None:
    worker, root = worker_on_copy
    data = root / "data"
    first = worker.reference(None, None, RUNGS)
    assert first["cached"] is False and first["rows_decoded"] == 12 * 2 * 2  # 12 clips, de+es, ASR+ST
    for n in RUNGS:
        assert first["cells"][n] == _direct_cells(tiny_bench / "base", data, ("de", "es"), n)
    again = worker.reference(None, None, RUNGS)
    assert again["cached"] is True and again["rows_decoded"] == 0
    assert again["cells"] == first["cells"]

    # An expert scored by the demo's scoring phase (evaluation.score_cache.score_model_dir, keyed by the weights
    # loaded from its directory) is read back by the worker, which copies it into the resident base model.
    from lors_search.evaluation.score_cache import ScoreCache, score_model_dir

    _, cached = score_model_dir(ScoreCache(data), tiny_bench / "experts" / "de", ("dev",), languages=("de",))
    assert cached is False
    expert = worker.reference(str(tiny_bench / "experts" / "de"), ["de"], RUNGS)
    assert expert["cached"] is True and expert["rows_decoded"] == 0
    for n in RUNGS:
        assert expert["cells"][n] == _direct_cells(tiny_bench / "experts" / "de", data, ("de",), n)


def test_a_changed_expert_is_decoded_again(worker_on_copy, tiny_bench: Path) -> None:
    worker, root = worker_on_copy
    original = tiny_bench / "experts" / "es"
    assert worker.reference(str(original), ["es"], RUNGS)["rows_decoded"] in (0, 12 * 2)  # cached or not, yet
    assert worker.reference(str(original), ["es"], RUNGS)["cached"] is True

    changed = root / "es-changed"
    shutil.copytree(original, changed)
    weights = load_file(changed / "model.safetensors")
    name = next(n for n in sorted(weights) if n.endswith("decoder.layer_norm.weight"))
    weights[name] = weights[name] + 0.25
    save_file(weights, changed / "model.safetensors", metadata={"format": "pt"})
    result = worker.reference(str(changed), ["es"], RUNGS)
    assert result["cached"] is False and result["rows_decoded"] == 12 * 2
    assert result["cells"][12] == _direct_cells(changed, root / "data", ("es",), 12)
    assert worker.reference(str(changed), ["es"], RUNGS)["cached"] is True


def test_selection_reads_the_held_out_rows_from_the_cache(worker_on_copy, tiny_bench: Path) -> None:
    """The selection step's base and expert rows on the held-out tail of the clip order: decoded when no
    whole-split entry exists, read from it when the demo's scoring phase wrote one; the same rows either way."""
    from dataclasses import asdict

    from lors_search.checkpoints import load_checkpoint
    from lors_search.evaluation.score_cache import ScoreCache, score_model_dir
    from lors_search.search.selection import _decode_state

    worker, root = worker_on_copy
    first = 8  # clips ranked 8..11 of each language are the held-out part
    worker.load_state(worker.merger.base)
    direct = [asdict(h) for h in worker.evaluator.evaluate(None, from_rank=first).hypotheses]
    assert len(direct) == 4 * 2 * 2  # 4 clips, de+es, ASR+ST

    before = worker.evaluator.rows_decoded
    assert _decode_state(worker, worker.merger.base, first) == direct
    assert worker.evaluator.rows_decoded == before + 16  # no whole-split entry yet (the references kept 12 clips)
    score_model_dir(ScoreCache(root / "data"), tiny_bench / "base", ("dev",))
    before = worker.evaluator.rows_decoded
    assert _decode_state(worker, worker.merger.base, first) == direct
    assert worker.evaluator.rows_decoded == before  # read from the cache

    # An expert: its own language only (it used to decode every language and keep one).
    state = load_checkpoint(tiny_bench / "experts" / "de").state_dict
    worker.load_state(state)
    own = [asdict(h) for h in worker.evaluator.evaluate(None, from_rank=first).hypotheses if h.language == "de"]
    assert _decode_state(worker, state, first, ("de",)) == own
