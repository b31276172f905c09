"""Building a synthetic multilingual speech corpus from a `CorpusSpec`: plan, synthesise in parallel, and save
a `datasets.DatasetDict` (splits train/dev/test) with `save_to_disk`, plus the spec as JSON beside it.

Rows come out in plan order whatever the number of workers (an ordered `imap`; replacements for clips
that do not fit the window are rendered in the parent, in order). Clips are synthesised in fixed chunks
of consecutive clips of one subset and language, each chunk in a fresh eSpeak session, so a clip's audio
depends only on the plan, and the same spec gives bit-identical audio and texts with 1 or N workers. The output
directory appears atomically (`lors_search.fsutil.atomic_output_dir`). Audio is stored as a plain float32
list column: the `datasets.Audio` feature needs torchcodec, which does not load beside the CPU torch here.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from lors_search.errors import UserError
from lors_search.fsutil import atomic_output_dir, atomic_write_text, environment
from lors_search.speech.plan import ClipJob, CorpusPlan, PlannedClip, plan_corpus
from lors_search.speech.spec import SPLITS, CorpusSpec, Split, load_corpus_spec, parse_corpus_spec
from lors_search.speech.synth import SAMPLING_RATE, RenderedClip, render_chunk

__all__ = ["CorpusSpec", "build_corpus", "corpus_features", "read_corpus_spec", "SPEC_FILE", "INFO_FILE"]

SPEC_FILE = "corpus_spec.json"
INFO_FILE = "corpus_info.json"
_BATCH_ROWS = 256
_MAX_REPLACEMENTS = 50  # per clip slot, before the build gives up
CHUNK_CLIPS = 16  # clips per eSpeak session: loading a voice costs about as much as saying a clip
_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def corpus_features() -> Any:
    """The `datasets.Features` of every split."""
    from datasets import Features, List, Value

    return Features(
        {
            "id": Value("string"),
            "language": Value("string"),
            "transcript": Value("string"),
            "translation": Value("string"),
            "audio": List(Value("float32")),
            "duration": Value("float32"),
            "voice": Value("string"),
            "rate": Value("int32"),
            "pitch": Value("int32"),
            "snr_db": Value("float32"),
            "noise": Value("string"),
            "domain": Value("string"),
            "form": Value("string"),
            "content_key": Value("string"),
            "subset": Value("string"),
        }
    )


def read_corpus_spec(data_dir: str | Path) -> CorpusSpec:
    """The spec a corpus was built from (its `corpus_spec.json`)."""
    path = Path(data_dir) / SPEC_FILE
    if not path.is_file():
        raise UserError(f"{data_dir} has no {SPEC_FILE}: not a corpus built by lors_search.speech")
    return parse_corpus_spec(json.loads(path.read_text(encoding="utf-8")))


def build_corpus(
    spec: CorpusSpec | Mapping[str, Any] | str | Path,
    out_dir: str | Path,
    *,
    workers: int = 2,
    progress: bool | Progress = True,
    force: bool = False,
) -> Path:
    """Synthesise the corpus described by `spec` (an object, plain data, or a YAML/JSON path) into
    `out_dir`; return its resolved path. `workers` synthesis processes (1: in this process). `progress`:
    a tqdm bar (True), nothing (False), or a callback `(split, done, total)` after every clip.

    Workers are spawned, so each re-imports the calling program's main module: keep it light (the
    `lors-search` console script is), or a heavy main (one importing transformers at the top) costs each
    worker seconds of start-up."""
    if isinstance(spec, (str, Path)):
        spec = load_corpus_spec(spec)
    spec = parse_corpus_spec(spec)
    if workers < 1:
        raise UserError(f"workers must be at least 1, got {workers}")
    if Path(out_dir).exists() and not force:  # checked again, atomically, when the output is created
        raise UserError(f"output directory {Path(out_dir).resolve()} already exists (use --force to replace it)")
    started = time.perf_counter()
    plan = plan_corpus(spec)  # fails on a too-small content pool before anything is written
    stats: dict[str, Any] = {}
    with (
        _progress_reporter(progress, sum(len(clips) for clips in plan.clips.values())) as report,
        atomic_output_dir(out_dir, force=force) as tmp,
        _renderer(workers) as render_many,
    ):
        from datasets import Dataset, DatasetDict

        staging = tmp / ".staging"
        staging.mkdir()
        features = corpus_features()
        for split in SPLITS:
            stats[split] = _write_split(plan, split, render_many, staging / f"{split}.arrow", features, report)
        dataset = DatasetDict(
            {split: Dataset.from_file(str(staging / f"{split}.arrow"), split=split) for split in SPLITS}
        )
        with _quiet_datasets():
            # An empty split needs an explicit shard, or datasets 5.2 writes none and cannot load it back.
            dataset.save_to_disk(str(tmp), num_shards={s: 1 for s in SPLITS if not len(dataset[s])})
        del dataset
        shutil.rmtree(staging)
        atomic_write_text(tmp / SPEC_FILE, spec.to_json())
        info = {
            "splits": stats,
            "sampling_rate": SAMPLING_RATE,
            "window_seconds": spec.window_seconds,
            "workers": workers,
            "build_seconds": round(time.perf_counter() - started, 2),
        }
        atomic_write_text(tmp / INFO_FILE, json.dumps(info, indent=2) + "\n")
    return Path(out_dir).resolve()


def _write_split(
    plan: CorpusPlan,
    split: Split,
    render_many: Callable[[list[PlannedClip]], Iterator[RenderedClip | None]],
    path: Path,
    features: Any,
    report: Progress,
) -> dict[str, Any]:
    schema = features.arrow_schema
    clips = plan.clips[split]
    durations: list[float] = []
    replaced = 0
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        rows: list[tuple[PlannedClip, RenderedClip]] = []
        for clip, rendered in zip(clips, render_many(clips), strict=True):
            round_ = 0
            while rendered is None:
                # Re-draw, never truncate: the same slot gets the next content of its form, rendered here
                # in order so the result does not depend on the number of workers.
                round_ += 1
                if round_ > _MAX_REPLACEMENTS:
                    raise UserError(
                        f"{clip.id}: {_MAX_REPLACEMENTS} contents in a row did not fit the "
                        f"{plan.spec.window_seconds}-s window; lower the range or raise the speaking rate"
                    )
                clip = plan.replacement(clip, round_)
                rendered = render_chunk([clip.job])[0]
                replaced += 1
            rows.append((clip, rendered))
            durations.append(len(rendered.samples) / SAMPLING_RATE)
            if len(rows) == _BATCH_ROWS:
                writer.write_batch(_record_batch(rows, schema))
                rows = []
            report(split, len(durations), len(clips))
        if rows or not durations:
            writer.write_batch(_record_batch(rows, schema))
    return {
        "clips": len(durations),
        "hours": round(sum(durations) / 3600, 4),
        "max_duration": round(max(durations), 3) if durations else 0.0,
        "replaced_content": replaced,
    }


def _record_batch(rows: list[tuple[PlannedClip, RenderedClip]], schema: pa.Schema) -> pa.RecordBatch:
    samples = [rendered.samples for _, rendered in rows]
    offsets = np.zeros(len(samples) + 1, dtype=np.int32)
    np.cumsum([len(s) for s in samples], out=offsets[1:])
    values = np.concatenate(samples) if samples else np.zeros(0, dtype=np.float32)
    columns: dict[str, Any] = {
        "id": [c.id for c, _ in rows],
        "language": [c.language for c, _ in rows],
        "transcript": [c.transcript for c, _ in rows],
        "translation": [c.translation for c, _ in rows],
        "audio": pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, type=pa.float32())),
        "duration": [len(r.samples) / SAMPLING_RATE for _, r in rows],
        "voice": [r.voice for _, r in rows],
        "rate": [r.draw.rate for _, r in rows],
        "pitch": [r.draw.pitch for _, r in rows],
        "snr_db": [r.draw.snr_db for _, r in rows],  # NaN (not null) marks a clean clip
        "noise": [r.draw.noise for _, r in rows],
        "domain": [c.domain for c, _ in rows],
        "form": [c.key.form for c, _ in rows],
        "content_key": [str(c.key) for c, _ in rows],
        "subset": [c.tag for c, _ in rows],
    }
    arrays = [
        columns[f.name] if isinstance(columns[f.name], pa.Array) else pa.array(columns[f.name], type=f.type)
        for f in schema
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Silence datasets' own per-split progress bars; ours already covers the build."""
    from datasets.utils import logging as datasets_logging

    enabled = datasets_logging.is_progress_bar_enabled()
    datasets_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            datasets_logging.enable_progress_bar()


@contextlib.contextmanager
def _renderer(workers: int) -> Iterator[Callable[[list[PlannedClip]], Iterator[RenderedClip | None]]]:
    """A function that renders clips in order: in this process, or in a pool of spawned workers (spawn,
    not fork: the parent may hold torch threads, and each worker needs its own eSpeak engine)."""
    if workers == 1:
        yield lambda clips: (clip for chunk in map(render_chunk, _chunks(clips)) for clip in chunk)
        return
    # One BLAS thread per worker: the workers already fill the cores, and idle BLAS threads spinning
    # beside them made a 2-worker build slower than a 1-worker one on this 2-core machine (measured).
    with environment(dict.fromkeys(_THREAD_VARIABLES, "1")):
        pool = multiprocessing.get_context("spawn").Pool(workers)  # the workers start here, with that environment
    with pool:
        yield lambda clips: (clip for chunk in pool.imap(render_chunk, _chunks(clips)) for clip in chunk)


def _chunks(clips: list[PlannedClip]) -> list[list[ClipJob]]:
    """Jobs cut into runs of at most `CHUNK_CLIPS` consecutive clips of one subset and language, each
    rendered in one eSpeak session. The cuts depend on the plan only (a clip's position in its subset and
    language), never on the number of workers, so neither does the audio."""
    chunks: list[list[ClipJob]] = []
    previous: tuple[int, str] | None = None
    for clip in clips:
        group = (clip.subset_index, clip.language)
        index = int(clip.id.rsplit("-", 1)[1])
        if group != previous or index % CHUNK_CLIPS == 0:
            chunks.append([])
        chunks[-1].append(clip.job)
        previous = group
    return chunks


@contextlib.contextmanager
def _progress_reporter(progress: bool | Progress, total: int) -> Iterator[Progress]:
    if callable(progress):
        yield progress
        return
    if not progress:
        yield lambda stage, done, count: None
        return
    from tqdm import tqdm

    with tqdm(total=total, desc="synthesising", unit="clip") as bar:

        def report(stage: str, done: int, count: int) -> None:
            bar.set_postfix_str(stage, refresh=False)
            bar.update(1)

        yield report
