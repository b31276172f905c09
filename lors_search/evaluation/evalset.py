"""The utterances a model is scored on: log-mel features of a split's clips plus, per (clip, task) row, its
language, task and reference, with the seeded nested order used for multi-fidelity subsets.

Reads a `datasets.DatasetDict` saved with `save_to_disk` (columns `id`, `language`, `transcript`,
`translation`, `audio`; optional `form`, `domain` used as strata) and its cached features
(`lors_search.speech.features.load_features`). The test split is refused unless `allow_test=True`: a search
selects on dev only, and only final reports read test.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lors_search.errors import UserError
from lors_search.evaluation.data_schema import check_eval_data
from lors_search.evaluation.fidelity import fidelity_order, fidelity_ranks
from lors_search.evaluation.metrics import TASKS, TRANSCRIBE

SPLITS = ("train", "dev", "test")
REQUIRED_COLUMNS = ("id", "language", "transcript", "translation")
STRATA_COLUMNS = ("form", "domain")  # spread evenly over every multi-fidelity prefix when present


@dataclass(frozen=True, eq=False)
class EvalSet:
    """Clips (features in dataset row order, after filtering) and rows: row r is clip r // T with task
    `tasks[r % T]`, T = len(tasks). Build with `load_eval_set` or `EvalSet.build`."""

    split: str
    features: np.ndarray  # [clips, mels, frames], float16 or float32, possibly memory-mapped
    clip_ids: tuple[str, ...]
    clip_languages: tuple[str, ...]
    transcripts: tuple[str, ...]
    translations: tuple[str, ...]
    tasks: tuple[str, ...]
    ranks: np.ndarray  # rank of each clip within its language in the multi-fidelity order
    order: np.ndarray  # all clips in multi-fidelity order

    @classmethod
    def build(
        cls,
        features: np.ndarray,
        ids: Sequence[str],
        languages: Sequence[str],
        transcripts: Sequence[str],
        translations: Sequence[str],
        *,
        split: str = "dev",
        tasks: Sequence[str] = TASKS,
        strata: Sequence[str] | None = None,
        seed: int = 0,
    ) -> EvalSet:
        count = len(ids)
        if not count:
            raise UserError(f"the {split} split has no clips to evaluate")
        if not (features.shape[0] == len(languages) == len(transcripts) == len(translations) == count):
            raise ValueError("features, ids, languages, transcripts and translations must have one entry per clip")
        tasks = _checked_tasks(tasks)
        ranks = fidelity_ranks(languages, strata, seed=seed)
        return cls(
            split=split,
            features=features,
            clip_ids=tuple(ids),
            clip_languages=tuple(languages),
            transcripts=tuple(transcripts),
            translations=tuple(translations),
            tasks=tasks,
            ranks=ranks,
            order=fidelity_order(languages, ranks),
        )

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.clip_languages)))

    @property
    def n_clips(self) -> int:
        return len(self.clip_ids)

    @property
    def n_rows(self) -> int:
        return self.n_clips * len(self.tasks)

    def clips(self, n_per_language: int | None = None) -> np.ndarray:
        """The first `n_per_language` clips of each language (all of a language that has fewer; all clips
        for None), in multi-fidelity order."""
        if n_per_language is None:
            return self.order
        if n_per_language < 1:
            raise ValueError(f"n_per_language must be at least 1, got {n_per_language}")
        return self.order[self.ranks[self.order] < n_per_language]

    def rows(self, n_per_language: int | None = None) -> np.ndarray:
        """Rows of `clips(n_per_language)`, each clip's tasks adjacent so they share one encoder pass."""
        clips = self.clips(n_per_language)
        width = len(self.tasks)
        return (clips[:, None] * width + np.arange(width)[None, :]).reshape(-1)

    def row_clip(self, row: int) -> int:
        return row // len(self.tasks)

    def row_task(self, row: int) -> str:
        return self.tasks[row % len(self.tasks)]

    def row_language(self, row: int) -> str:
        return self.clip_languages[self.row_clip(row)]

    def row_reference(self, row: int) -> str:
        clip = self.row_clip(row)
        return self.transcripts[clip] if self.row_task(row) == TRANSCRIBE else self.translations[clip]


def load_eval_set(
    data_dir: str | os.PathLike[str],
    split: str = "dev",
    *,
    window_seconds: int | None = None,
    languages: Sequence[str] | None = None,
    tasks: Sequence[str] = TASKS,
    allow_test: bool = False,
    seed: int = 0,
) -> EvalSet:
    """The evaluation set of `split` in the dataset at `data_dir`, features padded to `window_seconds`
    (None: the corpus's own window), optionally restricted to some languages and tasks."""
    if split == "test" and not allow_test:
        raise UserError(
            "the test split is reserved for final reports; selection (search, tuning) must use dev "
            "(pass allow_test=True only to report final numbers)"
        )
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    tasks = _checked_tasks(tasks)
    # Empty splits, struct-typed audio and another sampling rate fail here with one line, not deep in
    # datasets or the feature extractor (or silently, scored at the wrong rate).
    check_eval_data(data_dir, split, require_audio=False)  # missing columns: _read_split names them all
    table = _read_split(Path(data_dir), split)
    clip_languages = table["language"]
    present = sorted(set(clip_languages))
    wanted = list(dict.fromkeys(languages)) if languages else present
    unknown = [code for code in wanted if code not in present]
    if unknown:
        raise UserError(
            f"language(s) {', '.join(unknown)} not in the {split} split of {data_dir} "
            f"(it has {', '.join(present)})"
        )
    keep = np.flatnonzero(np.isin(np.asarray(clip_languages, dtype=object), wanted))
    features = _load_features(Path(data_dir), split, window_seconds)
    if features.shape[0] != len(clip_languages):
        raise UserError(f"cached features of {split} have {features.shape[0]} rows, the split has {len(clip_languages)}")
    if len(keep) < len(clip_languages):
        features = features[keep]  # a copy of the kept rows; the full memory map stays untouched
    strata = None
    columns = [name for name in STRATA_COLUMNS if name in table]
    if columns:
        strata = ["|".join(str(table[name][i]) for name in columns) for i in keep]
    return EvalSet.build(
        features,
        [str(table["id"][i]) for i in keep],
        [clip_languages[i] for i in keep],
        [table["transcript"][i] for i in keep],
        [table["translation"][i] for i in keep],
        split=split,
        tasks=tasks,
        strata=strata,
        seed=seed,
    )


def _checked_tasks(tasks: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(tasks))
    unknown = [task for task in chosen if task not in TASKS]
    if unknown or not chosen:
        raise UserError(f"unknown task(s) {', '.join(unknown) or '(none given)'}; expected {' and/or '.join(TASKS)}")
    # Canonical order, so rows and results do not depend on how the tasks were listed.
    return tuple(task for task in TASKS if task in chosen)


def _read_split(data_dir: Path, split: str) -> dict[str, list]:
    import datasets

    if not data_dir.is_dir():
        raise UserError(f"data directory {data_dir} does not exist")
    try:
        dataset = datasets.load_from_disk(str(data_dir))
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(f"{data_dir} is not a dataset saved with save_to_disk ({exc})") from exc
    if not isinstance(dataset, datasets.DatasetDict):
        raise UserError(f"{data_dir} holds a single dataset, expected a DatasetDict with splits {', '.join(SPLITS)}")
    if split not in dataset:
        raise UserError(f"{data_dir} has no {split!r} split (it has {', '.join(dataset)})")
    part = dataset[split]
    missing = [name for name in REQUIRED_COLUMNS if name not in part.column_names]
    if missing:
        raise UserError(f"the {split} split of {data_dir} lacks column(s) {', '.join(missing)}")
    wanted = [*REQUIRED_COLUMNS, *(name for name in STRATA_COLUMNS if name in part.column_names)]
    return part.select_columns(wanted).to_dict()


def _load_features(data_dir: Path, split: str, window_seconds: int | None) -> np.ndarray:
    from lors_search.speech.features import load_features

    return load_features(data_dir, split, window_seconds=window_seconds)
