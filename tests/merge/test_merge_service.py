"""The merge service (lors_search.merging.service) from checkpoints on disk: the same weights as the one-shot merge
of the same tensors in memory, the expert actors' preparation equal to prepare_expert's, the experts' weights freed
once prepared, one-line errors, and the same merge on a GPU where there is one."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch

from lors_search.errors import UserError
from lors_search.merging import DEFAULT_RULES, MergeParams, merge_state_dicts, prepare_expert
from lors_search.merging.service import MergeService, merge_device, prepare_experts


class Expert(NamedTuple):
    name: str
    path: str


def _experts(tiny, names=("de", "es")) -> list[Expert]:
    return [Expert(name, str(tiny.expert_dirs[name])) for name in names]


@pytest.mark.parametrize(
    "method, params",
    [("lors", {"rank": 3, "density": 0.3}), ("ties", {"density": 0.5}), ("tsv_m", {}), ("task_arithmetic", {})],
)
def test_service_merge_equals_the_one_shot_merge_of_the_same_tensors(tiny, method: str, params: dict) -> None:
    merge = MergeParams(method=method, params=params)
    lines: list[str] = []
    service = MergeService(str(tiny.base_dir), _experts(tiny), DEFAULT_RULES, progress=lines.append)
    service.prepare(service.plan(merge).max_ranks())
    merged = service.merge(merge)
    want = merge_state_dicts(tiny.base, {"de": tiny.experts["de"], "es": tiny.experts["es"]}, merge)
    assert set(merged) == set(want) and all(torch.equal(merged[name], tensor) for name, tensor in want.items())
    assert lines[0] == f"loading base {tiny.base_dir}"
    assert [line.split(" (")[0] for line in lines if line.startswith("preparing")] == [
        "preparing expert de", "preparing expert es",
    ]  # fmt: skip


def test_prepared_experts_are_prepare_experts_of_the_loaded_tensors_and_free_the_weights(tiny) -> None:
    service = MergeService(str(tiny.base_dir), _experts(tiny, ("fr",)), DEFAULT_RULES)
    (loaded,) = [checkpoint for _, checkpoint in service._experts]
    service.prepare(4)
    assert loaded.state_dict == {}  # the task vector is all a merge needs from here on
    (actor,) = prepare_experts(str(tiny.base_dir), _experts(tiny, ("fr",)), DEFAULT_RULES, 4)  # an expert actor's
    want = prepare_expert(tiny.base, tiny.experts["fr"], DEFAULT_RULES, 4, name="fr")
    for got in (service.experts[0], actor):
        assert got.name == "fr" and set(got.deltas) == set(want.deltas) and set(got.factors) == set(want.factors)
        assert all(torch.equal(got.deltas[name], tensor) for name, tensor in want.deltas.items())
        assert all(torch.equal(got.factors[name][0], us) and torch.equal(got.factors[name][1], vh)
                   for name, (us, vh) in want.factors.items())


def test_merging_before_prepare_and_unknown_gram_experts_are_refused(tiny) -> None:
    service = MergeService(str(tiny.base_dir), _experts(tiny), DEFAULT_RULES)
    with pytest.raises(RuntimeError, match="prepare"):
        service.merge(MergeParams(method="task_arithmetic"))
    with pytest.raises(UserError, match="Gram sources name expert 'fr'"):
        service.prepare(0, {"fr": object()})  # type: ignore[dict-item]
    with pytest.raises(UserError, match="unknown device 'gpu0'"):
        merge_device("gpu0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_service_on_cuda_matches_cpu(tiny) -> None:
    merge = MergeParams(method="lors", params={"rank": 4, "density": 0.3})
    merged = {}
    for device in ("cpu", merge_device("cuda")):
        service = MergeService(str(tiny.base_dir), _experts(tiny), DEFAULT_RULES, device=device)
        service.prepare(service.plan(merge).max_ranks())
        merged[str(device)] = service.merge(merge)
    for name, tensor in merged["cpu"].items():
        assert merged["cuda"][name].device.type == "cuda"
        torch.testing.assert_close(merged["cuda"][name].cpu(), tensor, rtol=0, atol=1e-5)
