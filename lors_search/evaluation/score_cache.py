"""Per-clip hypotheses of models that do not change (the base, the experts, a multi-task model, fixed recipe
merges), kept with the dataset in `<data>/scores/`, so the search's references, the export and the report do
not decode them again.

An entry holds the rows of one model on one language of one split, decoded for the first `n` clips of the
multi-fidelity order (None: all), with each clip's rank in that order, so any smaller subset is read back as a
prefix (the order is nested, `evaluation/fidelity.py`). It is keyed by the model's content hash (of its weights:
`model_dir_hash` of a checkpoint directory, `state_hash` of weights in memory), the split's data fingerprint
and the evaluation settings (window, tasks, device type, max new tokens, this file's format version); a change
to any of them gives another key, so a stale entry is never read. Decoding does not depend on the batch
(docs/evaluation.md), so the batch size is not part of the key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from lors_search.evaluation.evaluator import Hypothesis
from lors_search.evaluation.metrics import TASKS

CACHE_VERSION = 1
CACHE_DIR = "scores"
MERGES_DIR = "merges"  # merge key -> the content hash of the weights it gave
_CHUNK = 1 << 20


@dataclass(frozen=True)
class EvalSettings:
    """What, besides the weights and the data, decides the hypotheses."""

    window_seconds: int
    tasks: tuple[str, ...]
    device: str  # device type: cpu and cuda decode with different precision
    max_new_tokens: int | None = None

    def key(self) -> str:
        tasks = [task for task in TASKS if task in self.tasks]  # the order tasks were listed in does not matter
        return json.dumps({**asdict(self), "tasks": tasks, "version": CACHE_VERSION}, sort_keys=True)


def state_hash(state: Mapping[str, torch.Tensor]) -> str:
    """sha256 over the names, dtypes, shapes and bytes of every tensor, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def model_dir_hash(model_dir: str | os.PathLike[str]) -> str:
    """sha256 of a checkpoint directory's model.safetensors, config.json and generation_config.json (the
    generation config sets the prompt and suppressed tokens, so it decides the hypotheses too)."""
    root = Path(model_dir)
    digest = hashlib.sha256()
    for name in ("model.safetensors", "config.json", "generation_config.json"):
        path = root / name
        digest.update(name.encode() + b"\n")
        if path.is_file():
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(_CHUNK), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def file_hash(path: str | os.PathLike[str]) -> str:
    """sha256 of one file's bytes (a single-file checkpoint)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def data_fingerprint(data_dir: str | os.PathLike[str], split: str) -> str:
    """The split's `datasets` state (its fingerprint) and info, and the sizes of its files. The cached features
    are not part of it: they are derived from these files and the window (a setting), and are written lazily,
    so including them would change the fingerprint after the first evaluation."""
    root = Path(data_dir)
    parts: list[str] = [split]
    for path in sorted((root / split).glob("*")):
        if path.suffix == ".json":
            parts.append(f"{path.name}:{path.read_text(encoding='utf-8')}")
        elif path.is_file():
            parts.append(f"{path.name}:{path.stat().st_size}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class ScoreCache:
    """Rows of (model, split, language) entries under `root` (default `<data_dir>/scores`); `hits` and
    `misses` count lookups, so callers and tests can tell what was decoded."""

    def __init__(self, data_dir: str | os.PathLike[str], *, root: str | os.PathLike[str] | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.root = Path(root) if root is not None else self.data_dir / CACHE_DIR
        self._fingerprints: dict[str, str] = {}
        self.hits = 0
        self.misses = 0
        self.writable = True

    def merged_state(self, merge_key: str | None) -> str | None:
        """The content hash of the weights a merge gave when it was scored before (`merging.service.merge_key`),
        so its rows can be looked up without merging again; None when it was not."""
        if merge_key is None:
            return None
        entry = _read(self.root / MERGES_DIR / f"{merge_key[:32]}.json")
        if entry is None or entry.get("merge") != merge_key or not isinstance(entry.get("state"), str):
            return None
        return entry["state"]

    def remember_merge(self, merge_key: str | None, state_key: str) -> None:
        """Keep which weights `merge_key` gave (after merging and hashing them)."""
        if merge_key is None or self.merged_state(merge_key) == state_key:
            return
        from lors_search.fsutil import atomic_write_text

        path = self.root / MERGES_DIR / f"{merge_key[:32]}.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps({"merge": merge_key, "state": state_key}) + "\n")
        except OSError:
            self.writable = False

    def _path(self, model_key: str, split: str, language: str, settings: EvalSettings) -> Path:
        if split not in self._fingerprints:
            self._fingerprints[split] = data_fingerprint(self.data_dir, split)
        setting = hashlib.sha256(f"{self._fingerprints[split]}\n{settings.key()}".encode()).hexdigest()
        return self.root / split / f"{model_key[:32]}-{setting[:16]}-{language}.json"

    def lookup(
        self, model_key: str, split: str, language: str, settings: EvalSettings, n_per_language: int | None,
        *, from_rank: int = 0,
    ) -> tuple[Hypothesis, ...] | None:
        """The rows of the first `n_per_language` clips (None: all) from the `from_rank`-th on (the held-out
        selection part is the tail of the order), or None when no entry covers them."""
        path = self._path(model_key, split, language, settings)
        entry = _read(path)
        if entry is None or entry.get("model") != model_key or not _covers(entry.get("n"), n_per_language):
            self.misses += 1
            return None
        self.hits += 1
        return tuple(
            Hypothesis(row["id"], language, row["task"], row["reference"], row["hypothesis"])
            for row in entry["rows"]
            if (n_per_language is None or row["rank"] < n_per_language) and row["rank"] >= from_rank
        )

    def store(
        self,
        model_key: str,
        split: str,
        language: str,
        settings: EvalSettings,
        n_per_language: int | None,
        rows: Sequence[Hypothesis],
        ranks: Mapping[str, int],
    ) -> None:
        """Keep `rows` (one language's rows of the first `n_per_language` clips, `ranks`: clip id -> rank)."""
        from lors_search.fsutil import atomic_write_text

        path = self._path(model_key, split, language, settings)
        kept = _read(path)
        if kept is not None and kept.get("model") == model_key and _covers(kept.get("n"), n_per_language):
            return  # a wider entry is there already (another process scored more clips): keep it
        entry = {
            "model": model_key, "split": split, "language": language, "n": n_per_language,
            "settings": json.loads(settings.key()),
            "rows": [{"id": r.id, "task": r.task, "rank": int(ranks[r.id]), "reference": r.reference,
                      "hypothesis": r.hypothesis} for r in rows if r.language == language],
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A cache may be shared by every run on this dataset; umask decides who may read it.
            atomic_write_text(path, json.dumps(entry, ensure_ascii=False) + "\n")
        except OSError:
            self.writable = False  # a read-only dataset: score without keeping the result


def cached_rows(
    cache: ScoreCache | None,
    model_key: str,
    split: str,
    languages: Sequence[str],
    settings: EvalSettings,
    n_per_language: int | None,
    decode: Callable[[tuple[str, ...]], tuple[Sequence[Hypothesis], Mapping[str, int]]],
) -> tuple[Hypothesis, ...]:
    """The rows of `languages` on `split` (first `n_per_language` clips each), from `cache` where it has them;
    `decode(missing languages)` gives the others (rows and clip id -> multi-fidelity rank), which are stored."""
    rows: list[Hypothesis] = []
    missing: list[str] = []
    for language in languages:
        found = None if cache is None else cache.lookup(model_key, split, language, settings, n_per_language)
        if found is None:
            missing.append(language)
        else:
            rows.extend(found)
    if missing:
        decoded, ranks = decode(tuple(missing))
        rows.extend(decoded)
        if cache is not None:
            for language in missing:
                cache.store(model_key, split, language, settings, n_per_language, decoded, ranks)
    return tuple(rows)


def score_model_dir(
    cache: ScoreCache,
    model_dir: str | os.PathLike[str],
    splits: Sequence[str],
    *,
    languages: Sequence[str] | None = None,
    tasks: Sequence[str] = TASKS,
    device: str = "cpu",
    batch_size: int = 64,
    bar: bool = False,
) -> tuple[dict[str, tuple[Hypothesis, ...]], bool]:
    """Every clip of `splits` (on `languages`, default all) decoded by the checkpoint in `model_dir`, through the
    cache; keyed by the loaded weights, as the report keys its resident models. Returns the rows per split and
    whether all of them came from the cache."""
    from lors_search.evaluation.decoding import window_seconds
    from lors_search.evaluation.evalset import load_eval_set
    from lors_search.evaluation.evaluator import Evaluator
    from lors_search.evaluation.model_dir import load_model_dir

    model, tokenizer = load_model_dir(model_dir, device)
    window = window_seconds(model.config)
    settings = EvalSettings(window, tuple(tasks), torch.device(device).type)
    key = state_hash(model.state_dict())
    misses = cache.misses
    out: dict[str, tuple[Hypothesis, ...]] = {}
    for split in splits:
        def decode(missing: tuple[str, ...], split: str = split) -> tuple[Sequence[Hypothesis], dict[str, int]]:
            es = load_eval_set(cache.data_dir, split, window_seconds=window, languages=missing, tasks=tasks,
                               allow_test=True)
            ranks = {es.clip_ids[i]: int(es.ranks[i]) for i in range(es.n_clips)}
            evaluator = Evaluator(model, tokenizer, es, batch_size=batch_size, device=device)
            return evaluator.evaluate(None, progress=bar).hypotheses, ranks

        wanted = tuple(languages) if languages else load_eval_set(
            cache.data_dir, split, window_seconds=window, tasks=tasks, allow_test=True).languages
        out[split] = cached_rows(cache, key, split, wanted, settings, None, decode)
    return out, cache.misses == misses


def _covers(stored: Any, wanted: int | None) -> bool:
    if stored is None:
        return True
    return wanted is not None and int(stored) >= wanted


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # absent, or cut short: decode again


__all__ = [
    "CACHE_DIR", "EvalSettings", "MERGES_DIR", "ScoreCache", "cached_rows", "data_fingerprint", "file_hash",
    "model_dir_hash", "score_model_dir", "state_hash",
]
