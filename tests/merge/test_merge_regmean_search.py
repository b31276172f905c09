"""A search space with `method: regmean` (Jin et al., ICLR 2023, arXiv 2212.09849) loads, its runtime prepares
each expert's Grams from the space's train split (cached under <data>/grams), and its trials merge in the
search's own worker code without Ray (`runtime.local.local_worker`) with the weights the engine gives for the
experts' Grams; the export path (`export.build.space_gram_sources` + `merging.service.MergeService`) rebuilds the same weights
and completes the trial's merge config so that it reproduces them."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from merge_fixtures import RegMeanBench
from tiny_bench_kit import one_thread

from lors_search.checkpoints import load_checkpoint
from lors_search.merging import merge_state_dicts
from lors_search.runtime.spec import spec_from_space
from lors_search.space import load_search_space
from lors_search.whisper.gram import expert_grams, mean_grams


def space_file(bench: RegMeanBench, root: Path, **method: object) -> Path:
    raw = {
        "name": "regmean-test",
        "base": str(bench.base),
        "experts": [{"name": lang, "path": str(path), "language": lang} for lang, path in bench.experts.items()],
        "data": {"path": str(bench.data), "split": "dev", "batch_size": 4},
        "groups": {"encoder": {"size": "all"}, "decoder": {"size": "all"}, "modules": "shared"},
        **(method or {"method": "regmean", "scale": {"low": 0.5, "high": 1.5}, "params": {"alpha": {"low": 0.5, "high": 1.0}}}),
        "budget": {"num_samples": 2, "max_failures": 0},
        "fidelity": {"n_per_language": [None], "reduction_factor": 2},
        "searcher": {"algorithm": "tpe", "seed": 0},
    }
    path = root / "space.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_regmean_space_trial_merges_in_the_local_worker(regmean_bench: RegMeanBench, tmp_path: Path) -> None:
    from lors_search.export.build import space_gram_sources
    from lors_search.merging.service import MergeService
    from lors_search.runtime.local import local_worker

    bench = regmean_bench
    space = load_search_space(space_file(bench, tmp_path))
    spec = spec_from_space(space)
    assert spec.methods == ("regmean",) and spec.needs_grams
    source = spec.gram_source(spec.experts[0])
    assert source is not None and (source.language, source.subset) == ("de", None)  # no "expert" subset here
    assert source.cache_dir == str(bench.data / "grams")

    points = space.named_seed_points()
    assert [name for name, _ in points] == ["paper_defaults"]
    flat = {**points[0][1]}
    with one_thread():
        worker = local_worker(spec)
        result = worker.run(space.merge_params(flat), None)
    assert result["cells"] and result["merge_seconds"] > 0
    assert sorted(p.name.split("-")[1] for p in (bench.data / "grams").glob("gram-*.safetensors")) == ["de", "es"]

    params = space.merge_params(flat)
    assert params.method == "regmean"
    base = load_checkpoint(str(bench.base)).state_dict
    states, grams = {}, {}
    for language, path in bench.experts.items():
        checkpoint = load_checkpoint(str(path))
        grams[language] = mean_grams(expert_grams(checkpoint, bench.data, language))
        states[language] = dict(checkpoint.state_dict)
    want = merge_state_dicts(base, states, params, grams=grams)
    assert all(torch.equal(worker.target[name], tensor) for name, tensor in want.items())

    # The export path: the trial's config completed from the space, Grams from the same cache, same weights.
    config, sources = space_gram_sources(space.merge_config(flat), space)
    assert config.gram_data == str(bench.data) and [e.language for e in config.experts] == ["de", "es"]
    assert sources["es"].cache_dir == str(bench.data / "grams")
    builder = MergeService.from_config(config)
    builder.prepare(space.max_ranks(), sources)
    merged = builder.merge(config.merge_params())
    assert all(torch.equal(merged[name], tensor) for name, tensor in want.items())


def test_a_methods_space_prepares_grams_only_when_a_method_needs_them(regmean_bench: RegMeanBench, tmp_path: Path) -> None:
    with_regmean = load_search_space(space_file(regmean_bench, tmp_path, methods={"task_arithmetic": {}, "regmean": {}}))
    assert spec_from_space(with_regmean).needs_grams
    without = load_search_space(space_file(regmean_bench, tmp_path, methods={"task_arithmetic": {}, "tsv_m": {}}))
    spec = spec_from_space(without)
    assert not spec.needs_grams and spec.gram_source(spec.experts[0]) is None
