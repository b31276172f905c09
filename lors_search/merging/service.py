"""The merge service: load a base and its experts, validate them, prepare the experts (task vectors, SVD factors
up to the ranks asked, RegMean's Gram matrices where the method needs them) and merge, on the CPU or a GPU.

The one load -> validate -> prepare -> merge path of `lors-search merge`, the export, the report, the search's
expert actors and the runtime without Ray. It reads checkpoints (lors_search.checkpoints: HF directories with
safetensors weights, openai-whisper `.pt`, Hub ids) and computes Grams (lors_search.whisper.gram); the maths is
in the modules beside it, which do no I/O. Not imported by `lors_search.merging` itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Protocol

import torch
from torch import Tensor

from lors_search.checkpoints import Checkpoint, load_checkpoint, validate_compatible
from lors_search.errors import UserError
from lors_search.merging.merger import PreparedMerger, prepare_merger
from lors_search.merging.params import MergeParams
from lors_search.merging.plan import MergePlan, resolve_plan
from lors_search.merging.prepared import PreparedExpert
from lors_search.merging.rules import MergeRule
from lors_search.merging.tensor_names import TensorInfo, describe_state
from lors_search.whisper.gram import GramSource, merge_grams

if TYPE_CHECKING:
    from lors_search.merge_config import MergeConfig

Progress = Callable[[str], None]


class ExpertPath(Protocol):
    """An expert as the callers name it (merge config's ExpertSource, runtime's ExpertSpec)."""

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> str: ...


def merge_device(name: str | torch.device) -> torch.device:
    """The device to merge on; UserError for an unknown name or for CUDA where there is none."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {name!r} asked but CUDA is not available here")
    return device


def expert_grams(
    name: str,
    checkpoint: Checkpoint,
    source: GramSource,
    device: torch.device,
    rules: Sequence[MergeRule],
    progress: Progress,
) -> dict[str, Tensor]:
    """One expert's mean Grams (RegMean, arXiv 2212.09849) from its train clips, through the disk cache."""
    subset = f", subset {source.subset!r}" if source.subset else ""
    progress(f"Gram matrices of expert {name}: {source.clips} {source.language!r} train clips{subset} of {source.data}")
    means, record = merge_grams(checkpoint, source, device=device, rules=rules)
    where = "read from the cache" if record.cached else f"computed in {record.seconds:.1f} s"
    cache = f" ({source.cache_dir})" if source.cache_dir else " (not cached: the corpus is read-only)"
    progress(f"  {len(means)} layers, {record.clips} clips, {where}{cache if not record.cached else ''}")
    return means


class MergeService:
    """A base and its experts loaded and validated once; `prepare(max_ranks, grams)` computes the experts' task
    vectors, SVD factors and Grams (the checkpoints' expert weights are freed), then `merge(params)` /
    `merge_into(target, params)` build any number of merges of them, as the search's workers do."""

    def __init__(
        self,
        base: str,
        experts: Sequence[ExpertPath],
        rules: Sequence[MergeRule],
        *,
        device: torch.device | str = "cpu",
        progress: Progress | None = None,
    ) -> None:
        self.progress = progress or (lambda message: None)
        self.device = torch.device(device)
        self.rules = tuple(rules)
        self.expert_names = tuple(expert.name for expert in experts)
        self.progress(f"loading base {base}")
        self.base: Checkpoint = load_checkpoint(base)
        self._experts: list[tuple[str, Checkpoint]] = []
        for expert in experts:
            self.progress(f"loading expert {expert.name} from {expert.path}")
            self._experts.append((expert.name, load_checkpoint(expert.path)))
        validate_compatible(self.base, [checkpoint for _, checkpoint in self._experts], self.rules)
        self.infos: dict[str, TensorInfo] = describe_state(self.base.state_dict)
        self.merger: PreparedMerger | None = None

    @classmethod
    def from_config(
        cls, config: MergeConfig, *, device: torch.device | str = "cpu", progress: Progress | None = None
    ) -> MergeService:
        return cls(config.base, config.experts, config.effective_rules(), device=device, progress=progress)

    def plan(self, params: MergeParams) -> MergePlan:
        return resolve_plan(params, self.infos, self.expert_names, self.rules)

    def prepare(self, max_ranks: int | Mapping[str, int], grams: Mapping[str, GramSource] | None = None) -> None:
        """Task vectors and SVD factors of every expert up to `max_ranks` (once; the experts' checkpoints are
        freed), and the mean Grams of the experts `grams` names (computed first: they run the expert's model)."""
        sources = dict(grams or {})
        unknown = sorted(set(sources) - set(self.expert_names))
        if unknown:
            raise UserError(f"Gram sources name expert {unknown[0]!r}, which is not among {list(self.expert_names)}")
        means = {
            name: expert_grams(name, checkpoint, sources[name], self.device, self.rules, self.progress)
            for name, checkpoint in self._experts
            if name in sources
        }
        svd = any(rank > 0 for rank in max_ranks.values()) if isinstance(max_ranks, Mapping) else max_ranks > 0
        what = "task vector and SVD factors" if svd else "task vector"
        states = {name: checkpoint.state_dict for name, checkpoint in self._experts}
        self.merger = prepare_merger(
            self.base.state_dict, states, self.rules, max_ranks, self.device, means,
            release=True, progress=lambda name: self.progress(f"preparing expert {name} ({what})"),
        )
        self._experts = []

    @property
    def experts(self) -> list[PreparedExpert]:
        """The prepared experts (after `prepare`)."""
        return self._ready().experts

    def _ready(self) -> PreparedMerger:
        if self.merger is None:
            raise RuntimeError("call prepare(max_ranks) before merging")
        return self.merger

    def merge(self, params: MergeParams) -> dict[str, Tensor]:
        """New tensors holding the merge (the base's dtypes, on the service's device)."""
        return self._ready().merge(params.method, self.plan(params))

    def merge_into(self, target: MutableMapping[str, Tensor], params: MergeParams) -> None:
        """The merge written in place into a resident model's state dict (as the search's workers do)."""
        self._ready().merge_into(target, params.method, self.plan(params))

    def restore_base(self, target: MutableMapping[str, Tensor]) -> None:
        """Copy the base's weights back into a resident model's state dict."""
        merger = self._ready()
        with torch.no_grad():
            for name, tensor in merger.base.items():
                if name in target:
                    target[name].copy_(tensor)


def prepare_experts(
    base: str,
    experts: Sequence[ExpertPath],
    rules: Sequence[MergeRule],
    max_ranks: int | Mapping[str, int],
    *,
    device: torch.device | str = "cpu",
    grams: Mapping[str, GramSource] | None = None,
    progress: Progress | None = None,
) -> list[PreparedExpert]:
    """Load, validate and prepare `experts` against `base` on `device` (what a search's expert actors hold)."""
    service = MergeService(base, experts, rules, device=device, progress=progress)
    service.prepare(max_ranks, grams)
    return service.experts


def _source_hash(path: str) -> str | None:
    """Content hash of a checkpoint on disk (a directory's weights and configs, or a file's bytes); None for
    what is not a local path (a Hub id): its content is not known without downloading it."""
    from pathlib import Path

    source = Path(path)
    if not source.exists():
        return None
    files = sorted(source.iterdir()) if source.is_dir() else [source]
    stamp = tuple((file.name, file.stat().st_mtime_ns, file.stat().st_size) for file in files if file.is_file())
    return _content_hash(str(source.resolve()), stamp)


@functools.lru_cache(maxsize=64)
def _content_hash(path: str, stamp: tuple[tuple[str, int, int], ...]) -> str:
    """Memo of the hashes (a report keys a dozen merges of the same checkpoints); `stamp` (names, mtimes, sizes)
    makes a rewritten checkpoint hash again."""
    from pathlib import Path

    from lors_search.evaluation.score_cache import file_hash, model_dir_hash

    return model_dir_hash(path) if Path(path).is_dir() else file_hash(path)


@functools.lru_cache(maxsize=1)
def _merging_code_hash() -> str:
    """The merge maths' source: a change to any method gives other merges, so keys made before it are not read
    (read once per process: a report keys a dozen merges)."""
    import hashlib
    from pathlib import Path

    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(path.name.encode() + b"\n" + path.read_bytes())
    return digest.hexdigest()


@functools.lru_cache(maxsize=4)
def _tensor_infos(base: str, content: str) -> dict[str, TensorInfo]:
    """The base's tensor names and shapes (`content`, its hash, keys the memo: a rewritten base is read again)."""
    return describe_state(load_checkpoint(base).state_dict)


def merge_key(config: MergeConfig, device: torch.device | str) -> str | None:
    """What decides a merge's weights, hashed: the base's and each expert's content (in order: sums depend on it,
    names do not), the resolved plan (every tensor's scales, ranks, densities, kept entries and the method's
    other values, so a default given explicitly or per layer keys the same merge), the Gram settings where the
    method needs them, the device type (CPU and CUDA round differently) and the merging code. Lets a score
    cache find a merge's rows without preparing the experts and merging; None when a checkpoint is not a local
    path."""
    import dataclasses
    import hashlib
    import json

    sources = [_source_hash(config.base), *(_source_hash(expert.path) for expert in config.experts)]
    if any(source is None for source in sources):
        return None
    infos = _tensor_infos(config.base, str(sources[0]))
    plan = resolve_plan(config.merge_params(), infos, tuple(expert.name for expert in config.experts),
                        config.effective_rules())
    recipe: dict[str, object] = {
        "method": plan.method,
        "tensors": {name: {**dataclasses.asdict(tensor), "values": {k: list(v) for k, v in sorted(tensor.values.items())}}
                    for name, tensor in sorted(plan.tensors.items())},
    }
    if config.needs_grams:  # RegMean's Grams come from these clips of each expert's language
        from lors_search.evaluation.score_cache import data_fingerprint

        recipe["grams"] = {
            "data": None if config.gram_data is None else data_fingerprint(config.gram_data, "train"),
            "clips": config.gram_clips, "subset": config.gram_subset,
            "languages": [expert.language for expert in config.experts],
        }
    document = {"sources": sources, "recipe": recipe, "device": torch.device(device).type, "code": _merging_code_hash()}
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=list).encode()).hexdigest()
