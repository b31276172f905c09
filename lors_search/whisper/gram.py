"""Gram matrices G = X^T X of the inputs of a Whisper model's linear layers, for RegMean (Jin et al.,
"Dataless Knowledge Fusion by Merging Weights of Language Models", ICLR 2023, arXiv 2212.09849).

Each expert's Grams come from its own language's clips of the dataset's *train* split (never dev or test:
those score and select merges). The encoder runs once per clip on its log-mel features; the decoder is
teacher-forced on the clip's reference transcript (transcribe) and English translation (translate) in the
training prompt format (`lors_search.training.targets`: <|startoftranscript|><|lang|><|task|><|notimestamps|>
text, inputs = sequence minus its last token). Forward pre-hooks on every eligible `nn.Linear` add X^T X over
all frames (encoder), all non-padding tokens (decoder), or all encoder states a cross-attention key/value
projection reads. Sums are accumulated in float64 and returned as float32 with the number of input vectors.

`expert_grams` adds a disk cache: one safetensors file per (checkpoint content, dataset, split, clips,
language, ...), written atomically, reused while its key matches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from lors_search.errors import UserError
from lors_search.merging.rules import DEFAULT_RULES, MergeRule, assign_treatments

if TYPE_CHECKING:
    from transformers import WhisperForConditionalGeneration, WhisperTokenizer

    from lors_search.checkpoints.checkpoint import Checkpoint

GRAM_SPLIT = "train"  # the only split Grams are taken from: dev selects merges, test reports them
DEFAULT_CLIPS = 64  # per language
TASKS = ("transcribe", "translate")
_FORMAT_VERSION = 1
_COUNT_PREFIX = "count:"  # safetensors metadata keys holding each tensor's input-vector count
_ALIAS_PREFIX = "alias:"  # ... and naming the stored tensor a shared Gram (q/k/v of one attention) is read from


@dataclass(frozen=True)
class GramClips:
    """The clips Grams are computed from: log-mel features [clips, mels, frames] and their texts."""

    features: np.ndarray
    languages: tuple[str, ...]
    transcripts: tuple[str, ...]
    translations: tuple[str, ...]
    ids: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.languages)


@dataclass
class Grams:
    """Per eligible weight (HF name, e.g. `model.encoder.layers.0.fc1.weight`): the sum X^T X (in, in),
    float32, over `counts[name]` input vectors, from `clips` clips."""

    grams: dict[str, Tensor]
    counts: dict[str, int]
    clips: int
    seconds: float = 0.0
    cached: bool = False
    key: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def mean(self, name: str) -> Tensor:
        """X^T X / n: the per-vector average, comparable across experts whose data differ in length (the
        RegMean reference code averages the same way)."""
        return self.grams[name] / max(1, self.counts[name])

    @property
    def encoder_frames(self) -> int:
        return max((n for name, n in self.counts.items() if name.startswith("model.encoder.")), default=0)

    @property
    def decoder_tokens(self) -> int:
        return max(
            (n for name, n in self.counts.items() if name.startswith("model.decoder.") and not _reads_encoder(name)),
            default=0,
        )


def gram_tensor_names(
    model: WhisperForConditionalGeneration, rules: Sequence[MergeRule] = DEFAULT_RULES
) -> list[str]:
    """Names of the weights RegMean merges: the `lowrank_sparse` tensors of `rules` that belong to an
    `nn.Linear` (attention q/k/v/out and fc1/fc2 with the default rules)."""
    names = [name for name, _ in model.named_parameters()]
    treatments = assign_treatments(names, rules)
    modules = dict(model.named_modules())
    out = []
    for name in names:
        module = modules.get(name.removesuffix(".weight")) if name.endswith(".weight") else None
        if treatments[name] == "lowrank_sparse" and isinstance(module, nn.Linear):
            out.append(name)
    return out


def _reads_encoder(name: str) -> bool:
    """Cross-attention keys and values read the encoder's output, not the decoder's tokens."""
    return name.startswith("model.decoder.") and (".encoder_attn.k_proj." in name or ".encoder_attn.v_proj." in name)


def select_clips(
    data_dir: str | os.PathLike[str],
    language: str,
    clips: int = DEFAULT_CLIPS,
    *,
    window_seconds: int | None = None,
    subset: str | None = None,
    seed: int = 0,
) -> GramClips:
    """Up to `clips` clips of `language` from the train split at `data_dir` (a seeded draw, so the choice
    spreads over voices and forms rather than taking the first rows), with their cached log-mel features
    at `window_seconds` (None: the corpus's window). `subset` keeps only rows whose `subset` column equals
    it (the embedded benchmark tags the experts' own fine-tuning clips "expert")."""
    from lors_search.speech.features import load_features

    if clips < 1:
        raise UserError(f"the Gram clip count must be at least 1, got {clips}")
    split = _train_split(Path(data_dir))
    columns = ["id", "language", "transcript", "translation", *(["subset"] if subset is not None else [])]
    if subset is not None and "subset" not in split.column_names:
        raise UserError(f"the train split of {data_dir} has no 'subset' column to select {subset!r} from")
    table = split.select_columns(columns).to_dict()
    mask = np.asarray(table["language"], dtype=object) == language
    if subset is not None:
        mask &= np.asarray(table["subset"], dtype=object) == subset
    rows = np.flatnonzero(mask)
    if not len(rows):
        where = f" in subset {subset!r}" if subset is not None else ""
        raise UserError(f"the train split of {data_dir} has no {language!r} clips{where} to compute Grams from")
    chosen = np.sort(np.random.default_rng(seed).permutation(rows)[:clips])
    features = load_features(data_dir, GRAM_SPLIT, window_seconds=window_seconds)
    return GramClips(
        features=np.asarray(features[chosen]),
        languages=tuple(table["language"][i] for i in chosen),
        transcripts=tuple(table["transcript"][i] for i in chosen),
        translations=tuple(table["translation"][i] for i in chosen),
        ids=tuple(str(table["id"][i]) for i in chosen),
    )


def _train_split(data_dir: Path) -> Any:
    import datasets

    try:
        splits = datasets.load_from_disk(str(data_dir))
    except FileNotFoundError:
        raise UserError(f"{data_dir} is not a dataset saved with save_to_disk") from None
    if not isinstance(splits, datasets.DatasetDict) or GRAM_SPLIT not in splits:
        raise UserError(f"{data_dir} has no {GRAM_SPLIT!r} split to compute Gram matrices from")
    return splits[GRAM_SPLIT]


class _Recorder:
    """Forward pre-hooks that add X^T X of each hooked layer's input; `mask` (set per decoder batch) picks
    the real tokens out of padded decoder rows.

    Layers fed the very same tensor (self-attention q/k/v, cross-attention k/v) share one product per batch,
    and `aliases` records them when that held in every batch, so callers can store one Gram for the group."""

    def __init__(self, model: nn.Module, names: Sequence[str], device: torch.device) -> None:
        modules = dict(model.named_modules())
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {name: 0 for name in names}
        self.mask: Tensor | None = None
        self._shared_with: dict[str, str | None] = {}
        # (raw input, masked?, name that computed it, X^T X, number of vectors)
        self._last: tuple[Tensor, bool, str, Tensor, int] | None = None
        self.handles = []
        for name in names:
            module = modules[name.removesuffix(".weight")]
            self.sums[name] = torch.zeros(module.in_features, module.in_features, dtype=torch.float64, device=device)
            self.handles.append(module.register_forward_pre_hook(self._hook(name)))

    def _hook(self, name: str) -> Any:
        on_tokens = name.startswith("model.decoder.") and not _reads_encoder(name)

        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            raw = args[0]
            last = self._last
            # Holding `raw` in _last keeps it alive, so `is` cannot match a recycled object.
            if last is not None and last[0] is raw and last[1] == on_tokens:
                source, product, rows = last[2], last[3], last[4]
            else:
                x = raw
                if on_tokens:
                    if self.mask is None or x.shape[:2] != self.mask.shape:
                        raise RuntimeError(f"decoder layer {name!r} ran without a matching token mask")
                    x = x[self.mask]
                x = x.reshape(-1, x.shape[-1]).float()
                # fp32 product per batch (fast), fp64 running sum (no drift over ~10^5 vectors).
                source, product, rows = name, (x.T @ x).double(), int(x.shape[0])
                self._last = (raw, on_tokens, name, product, rows)
            self.sums[name].add_(product)
            self.counts[name] += rows
            shared = source if source != name else None
            if self._shared_with.setdefault(name, shared) != shared:
                self._shared_with[name] = None  # shared in one batch, not in another: keep it separate

        return hook

    @property
    def aliases(self) -> dict[str, str]:
        """name -> the earlier name whose Gram it equals exactly (same products added in the same order)."""
        return {name: source for name, source in self._shared_with.items() if source is not None}

    def finish(self) -> dict[str, Tensor]:
        """float32 Grams on the CPU; aliased names share their source's tensor."""
        self._last = None
        aliases = self.aliases
        out = {name: total.float().cpu() for name, total in self.sums.items() if name not in aliases}
        for name in self.sums:
            if name in aliases:
                out[name] = out[aliases[name]]
        return {name: out[name] for name in self.sums}

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def decoder_batches(
    tokenizer: WhisperTokenizer, clips: GramClips, tasks: Sequence[str] = TASKS
) -> dict[str, list[list[int]]]:
    """Each task's full token sequence per clip, in the training prompt format."""
    from lors_search.training.targets import target_sequences

    texts = {"transcribe": clips.transcripts, "translate": clips.translations}
    unknown = [task for task in tasks if task not in texts]
    if unknown or not tasks:
        raise UserError(f"unknown Gram task(s) {unknown or '(none)'}; expected transcribe and/or translate")
    return {task: target_sequences(tokenizer, clips.languages, texts[task], task) for task in tasks}


def compute_grams(
    model: WhisperForConditionalGeneration,
    tokenizer: WhisperTokenizer,
    clips: GramClips,
    *,
    tensors: Sequence[str] | None = None,
    tasks: Sequence[str] = TASKS,
    batch_clips: int = 8,
) -> Grams:
    """Sum X^T X of every hooked linear layer's input over `clips`, with the model on its own device and in
    its own dtype (eval mode, no autocast: the merge should see the expert's real inputs).

    `tensors`: weight names to hook (default `gram_tensor_names(model)`). The decoder is teacher-forced on
    each task's reference with the encoder output shared by the clip's rows; padding is excluded.
    """
    from lors_search.training.targets import collate

    if not len(clips):
        raise UserError("no clips to compute Gram matrices from")
    if batch_clips < 1:
        raise ValueError(f"batch_clips must be at least 1, got {batch_clips}")
    frames = 2 * int(model.config.max_source_positions)
    if clips.features.shape[-1] != frames:
        raise UserError(
            f"features have {clips.features.shape[-1]} frames but the model needs {frames} "
            "(compute them at the model's window)"
        )
    names = list(tensors) if tensors is not None else gram_tensor_names(model)
    sequences = decoder_batches(tokenizer, clips, tasks)
    pad_id = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    parameter = next(model.parameters())
    device, dtype = parameter.device, parameter.dtype
    was_training = model.training
    model.eval()
    recorder = _Recorder(model, names, device)
    started = time.perf_counter()
    try:
        with torch.inference_mode():
            for start in range(0, len(clips), batch_clips):
                stop = min(start + batch_clips, len(clips))
                features = torch.from_numpy(np.asarray(clips.features[start:stop], dtype=np.float32))
                encoded = model.model.encoder(features.to(device, dtype)).last_hidden_state
                rows = [seq for task in tasks for seq in sequences[task][start:stop]]
                inputs, _ = collate(rows, pad_id)
                lengths = torch.tensor([len(seq) - 1 for seq in rows])
                recorder.mask = (torch.arange(inputs.shape[1])[None, :] < lengths[:, None]).to(device)
                # Rows are task-major (all clips' transcribe rows, then translate), as in training.
                model.model.decoder(
                    input_ids=inputs.to(device),
                    encoder_hidden_states=encoded.repeat(len(tasks), 1, 1),
                    use_cache=False,
                )
                recorder.mask = None
    finally:
        recorder.remove()
        model.train(was_training)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return Grams(
        grams=recorder.finish(),
        counts=dict(recorder.counts),
        clips=len(clips),
        seconds=time.perf_counter() - started,
    )


# ------------------------------------------------------------------------------------------------ cache


def state_digest(state: Mapping[str, Tensor]) -> str:
    """sha256 of a state dict's content (names, dtypes, shapes, bytes), independent of the file format it
    was read from: the cache follows the weights, not a path or a modification time."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def _tokenizer_digest(tokenizer: WhisperTokenizer) -> str:
    vocab = sorted(tokenizer.get_vocab().items())
    return hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode()).hexdigest()


def _dataset_identity(data_dir: Path) -> dict[str, Any]:
    """What changes when the train split's content does (as `lors_search.speech.features` fingerprints it)."""
    split = _train_split(data_dir)
    files = [(Path(f["filename"]).name, os.path.getsize(f["filename"])) for f in split.cache_files]
    return {"fingerprint": split._fingerprint, "rows": len(split), "files": files}


def gram_cache_key(
    checkpoint_digest: str,
    tokenizer: WhisperTokenizer,
    data_dir: Path,
    clips: GramClips,
    *,
    language: str,
    clip_count: int,
    subset: str | None,
    seed: int,
    tasks: Sequence[str],
    tensors: Sequence[str],
) -> tuple[str, dict[str, Any]]:
    """The cache key (sha256 hex) and the identity it hashes."""
    identity = {
        "format": _FORMAT_VERSION,
        "checkpoint": checkpoint_digest,
        "tokenizer": _tokenizer_digest(tokenizer),
        "dataset": _dataset_identity(data_dir),
        "split": GRAM_SPLIT,
        "language": language,
        "clips": clip_count,
        "subset": subset,
        "seed": seed,
        "tasks": list(tasks),
        "frames": int(clips.features.shape[-1]),
        "clip_ids": hashlib.sha256("\n".join(clips.ids).encode()).hexdigest(),
        "tensors": hashlib.sha256("\n".join(tensors).encode()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest(), identity


def gram_cache_path(cache_dir: str | os.PathLike[str], language: str, key: str) -> Path:
    return Path(cache_dir) / f"gram-{language}-{key[:20]}.safetensors"


def save_grams(path: str | os.PathLike[str], grams: Grams, identity: Mapping[str, Any]) -> Path:
    """Write `grams` to `path` as safetensors (metadata: the identity, the counts), through a temporary file
    in the same directory and an atomic rename; the file gets the mode a plain open() would (umask)."""
    from safetensors.torch import save_file

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    stored: dict[str, Tensor] = {}
    aliases: dict[str, str] = {}
    first_name: dict[int, str] = {}
    for name, tensor in grams.grams.items():
        # A Gram shared by several layers (one input, several projections) is written once.
        source = first_name.setdefault(id(tensor), name)
        if source == name:
            stored[name] = tensor.contiguous()
        else:
            aliases[name] = source
    metadata = {
        "identity": json.dumps(dict(identity), sort_keys=True),
        "clips": str(grams.clips),
        "seconds": f"{grams.seconds:.3f}",
        **{_COUNT_PREFIX + name: str(count) for name, count in grams.counts.items()},
        **{_ALIAS_PREFIX + name: source for name, source in aliases.items()},
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    try:
        save_file(stored, tmp, metadata=metadata)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)  # mkstemp makes 0600 files
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def load_grams(path: str | os.PathLike[str], identity: Mapping[str, Any] | None = None) -> Grams | None:
    """The Grams stored at `path`, or None when the file is missing, unreadable or (with `identity`) was
    computed from something else."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if identity is not None and json.loads(metadata.get("identity", "null")) != json.loads(
                json.dumps(dict(identity), sort_keys=True)
            ):
                return None
            grams = {name: handle.get_tensor(name) for name in handle.keys()}
    except Exception:  # noqa: BLE001 - a damaged or foreign file (safetensors raises its own error type): recompute
        return None
    counts = {key.removeprefix(_COUNT_PREFIX): int(value) for key, value in metadata.items()
              if key.startswith(_COUNT_PREFIX)}
    for key, source in metadata.items():
        if key.startswith(_ALIAS_PREFIX) and source in grams:
            grams[key.removeprefix(_ALIAS_PREFIX)] = grams[source]
    if set(counts) != set(grams):
        return None
    grams = {name: grams[name] for name in sorted(counts)}
    return Grams(grams=grams, counts=counts, clips=int(metadata.get("clips", 0)), cached=True,
                 seconds=float(metadata.get("seconds", 0.0)),
                 meta=json.loads(metadata.get("identity", "{}")))


def model_from_checkpoint(
    checkpoint: Checkpoint, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> WhisperForConditionalGeneration:
    """A `WhisperForConditionalGeneration` holding the checkpoint's weights (tied output projection restored),
    in eval mode on `device` in `dtype` (fp32 by default: the Grams should see the expert's exact inputs).
    The checkpoint's own tensors are used where device and dtype already match (no copy)."""
    from transformers import GenerationConfig, WhisperForConditionalGeneration

    with torch.device("meta"):
        model = WhisperForConditionalGeneration(checkpoint.config)
    model.load_state_dict(checkpoint.state_dict, strict=False, assign=True)
    model.tie_weights()
    if checkpoint.generation_config is not None:
        model.generation_config = GenerationConfig.from_dict(checkpoint.generation_config)
    missing = [name for name, p in model.named_parameters() if p.is_meta]
    if missing:
        raise UserError(f"checkpoint {checkpoint.source} lacks tensor {missing[0]!r}")
    # Non-persistent buffers (none in Whisper today) would still be on meta; refuse rather than compute garbage.
    if any(buffer.is_meta for buffer in model.buffers()):
        raise UserError(f"checkpoint {checkpoint.source} leaves model buffers uninitialised")
    return model.to(device, dtype).eval()


def checkpoint_tokenizer(checkpoint: Checkpoint) -> WhisperTokenizer:
    """The tokenizer saved beside the checkpoint (a model's own vocabulary: the demo's is restricted)."""
    from transformers import WhisperTokenizer

    if checkpoint.source_dir is None or not any(p.name.startswith("tokenizer") for p in checkpoint.processor_files):
        raise UserError(
            f"checkpoint {checkpoint.source} has no tokenizer files beside it; RegMean's Gram matrices need the "
            "expert's tokenizer to teacher-force its decoder"
        )
    return WhisperTokenizer.from_pretrained(str(checkpoint.source_dir))


def expert_grams(
    checkpoint: Checkpoint,
    data_dir: str | os.PathLike[str],
    language: str,
    *,
    clips: int = DEFAULT_CLIPS,
    cache_dir: str | os.PathLike[str] | None = None,
    subset: str | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    rules: Sequence[MergeRule] = DEFAULT_RULES,
    tasks: Sequence[str] = TASKS,
    batch_clips: int = 8,
    tokenizer: WhisperTokenizer | None = None,
) -> Grams:
    """An expert's Grams on `clips` train clips of its `language`: read from `cache_dir` when a file with the
    same key is there, else computed on `device` (and written there when `cache_dir` is given).

    The key hashes the checkpoint's tensor content, its tokenizer, the train split's fingerprint, the clip
    selection (language, count, subset, seed, chosen ids), the tasks, the window and the hooked tensors.
    """
    from lors_search.evaluation.decoding import window_seconds

    data_dir = Path(data_dir)
    tokenizer = tokenizer if tokenizer is not None else checkpoint_tokenizer(checkpoint)
    chosen = select_clips(data_dir, language, clips, window_seconds=window_seconds(checkpoint.config),
                          subset=subset, seed=seed)
    model = model_from_checkpoint(checkpoint)  # on the CPU: no copy of fp32 weights unless it must compute
    names = gram_tensor_names(model, rules)
    key, identity = "", {}
    if cache_dir is not None:
        key, identity = gram_cache_key(state_digest(checkpoint.state_dict), tokenizer, data_dir, chosen,
                                       language=language, clip_count=clips, subset=subset, seed=seed, tasks=tasks,
                                       tensors=names)
        path = gram_cache_path(cache_dir, language, key)
        found = load_grams(path, identity) if path.exists() else None
        if found is not None:
            found.key = key
            return found
    model.to(device)
    grams = compute_grams(model, tokenizer, chosen, tensors=names, tasks=tasks, batch_clips=batch_clips)
    grams.key, grams.meta = key, dict(identity)
    if cache_dir is not None:
        save_grams(gram_cache_path(cache_dir, language, key), grams, identity)
    return grams


# ------------------------------------------------------------------------------------- for the merges

GRAM_CACHE_DIR = "grams"  # under the corpus directory: beside its features/ and scores/ caches
EXPERT_SUBSET = "expert"  # the embedded benchmark's tag for each expert's own fine-tuning clips


@dataclass(frozen=True)
class GramSource:
    """Where one expert's Grams come from, as a merge config or a search space states it (small, picklable):
    the corpus whose train split is read, the expert's language, the clip draw, and the cache directory
    (None: no cache)."""

    data: str
    language: str
    clips: int = DEFAULT_CLIPS
    subset: str | None = None
    seed: int = 0
    cache_dir: str | None = None


def default_subset(data_dir: str | os.PathLike[str]) -> str | None:
    """"expert" when the train split has a `subset` column holding it (the embedded benchmark: each expert's
    own fine-tuning clips, its domain), else None (every train clip of the language)."""
    split = _train_split(Path(data_dir))
    if "subset" not in split.column_names:
        return None
    return EXPERT_SUBSET if EXPERT_SUBSET in set(split.unique("subset")) else None


def default_cache_dir(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / GRAM_CACHE_DIR


def mean_grams(grams: Grams) -> dict[str, Tensor]:
    """X^T X / n per weight name (`Grams.mean`), each shared Gram (q/k/v of one attention) divided once and
    still shared, so the prepared expert holds one tensor per distinct layer input."""
    done: dict[tuple[int, int], Tensor] = {}
    out = {}
    for name, total in grams.grams.items():
        key = (id(total), grams.counts[name])
        found = done.get(key)
        if found is None:
            found = done[key] = grams.mean(name)
        out[name] = found
    return out


def merge_grams(
    checkpoint: Checkpoint,
    source: GramSource,
    *,
    device: torch.device | str = "cpu",
    rules: Sequence[MergeRule] = DEFAULT_RULES,
) -> tuple[dict[str, Tensor], Grams]:
    """One expert's mean Grams for RegMean (float32, on the CPU; shared ones shared) from `source`, through
    the disk cache, and the `Grams` record (counts, clips, seconds, whether it came from the cache; its sums
    are freed once divided)."""
    grams = expert_grams(checkpoint, source.data, source.language, clips=source.clips, cache_dir=source.cache_dir,
                         subset=source.subset, seed=source.seed, device=device, rules=rules)
    means = mean_grams(grams)
    grams.grams.clear()  # the sums are not needed once divided; free them before the next expert
    return means, grams


def train_languages(data_dir: str | os.PathLike[str]) -> set[str]:
    """The languages of the train split at `data_dir` (UserError when it is no corpus with a train split)."""
    return set(_train_split(Path(data_dir)).unique("language"))
