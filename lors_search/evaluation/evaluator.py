"""Incremental evaluation of one resident model on an `EvalSet`: the search's hot path.

`evaluate(n_per_language)` decodes only the rows of that multi-fidelity subset that have no hypothesis yet for
the current weights, so a trial promoted 16 -> 64 -> all clips per language decodes every row once; `reset()`
forgets the hypotheses after the weights change (the search merges into the same model in place). Metrics are
recomputed from the pooled hypotheses of the subset (`metrics.score_cells`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm
from transformers import PreTrainedTokenizerBase, WhisperForConditionalGeneration

from lors_search.errors import UserError
from lors_search.evaluation.decoding import GreedyDecoder
from lors_search.evaluation.evalset import EvalSet
from lors_search.evaluation.metrics import CellMetrics, score_cells


@dataclass(frozen=True)
class Hypothesis:
    """One decoded row."""

    id: str
    language: str
    task: str
    reference: str
    hypothesis: str


@dataclass(frozen=True)
class EvalResult:
    """Metrics of one evaluation: `cells` maps "<lang>/<task>" to its metrics and `n` (utterances)."""

    cells: dict[str, CellMetrics]
    hypotheses: tuple[Hypothesis, ...]
    n_per_language: int | None
    decode_seconds: float  # time this call spent decoding (0 when every row was already decoded)
    rows_decoded: int  # rows this call decoded

    @property
    def n(self) -> int:
        """Utterances scored (rows: a clip counts once per task)."""
        return len(self.hypotheses)

    @property
    def n_clips(self) -> int:
        return len({h.id for h in self.hypotheses})


class Evaluator:
    """Scores `model` on `eval_set`; keeps hypotheses until `reset()`."""

    def __init__(
        self,
        model: WhisperForConditionalGeneration,
        tokenizer: PreTrainedTokenizerBase,
        eval_set: EvalSet,
        *,
        batch_size: int = 32,
        device: str | torch.device = "cpu",
        max_new_tokens: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise UserError(f"batch size must be at least 1, got {batch_size}")
        self.model = model.to(device)
        self.tokenizer = tokenizer
        self.eval_set = eval_set
        self.batch_size = batch_size
        self.decoder = GreedyDecoder(self.model, device=device, max_new_tokens=max_new_tokens)
        frames = eval_set.features.shape[-1]
        if frames != self.decoder.frames:
            raise UserError(
                f"the evaluation features have {frames} frames per clip but the model needs {self.decoder.frames}: "
                "load the set with the model's window (decoding.window_seconds(model.config))"
            )
        # Every row's prompt, resolved once (this also rejects languages the model has no token for).
        prompts = {
            (language, task): self.decoder.ids.prompt(language, task)
            for language in eval_set.languages
            for task in eval_set.tasks
        }
        self._prompts = [
            prompts[(eval_set.row_language(row), eval_set.row_task(row))] for row in range(eval_set.n_rows)
        ]
        self._hypotheses: dict[int, str] = {}

    def reset(self) -> None:
        """Forget every hypothesis: call after changing the model's weights."""
        self._hypotheses.clear()

    @property
    def rows_decoded(self) -> int:
        """Rows decoded since construction, over all calls and resets."""
        return self.decoder.rows_decoded

    def evaluate(self, n_per_language: int | None = None, *, progress: bool = False, from_rank: int = 0) -> EvalResult:
        """Metrics on the first `n_per_language` clips of each language (None: all), decoding what is missing;
        `from_rank` skips each language's first clips (the held-out selection part is the tail of the order);
        `progress` shows a bar on stderr."""
        rows = self.eval_set.rows(n_per_language)
        if from_rank > 0:
            clips = rows // len(self.eval_set.tasks)
            rows = rows[self.eval_set.ranks[clips] >= from_rank]
        todo = [int(row) for row in rows if int(row) not in self._hypotheses]
        start = time.perf_counter()
        with tqdm(total=len(todo), unit="utt", desc="decoding", disable=not progress, file=sys.stderr) as bar:
            for begin in range(0, len(todo), self.batch_size):
                batch = todo[begin : begin + self.batch_size]
                self._decode(batch)
                bar.update(len(batch))
        seconds = time.perf_counter() - start if todo else 0.0
        es = self.eval_set
        hypotheses = tuple(
            Hypothesis(
                id=es.clip_ids[es.row_clip(row)],
                language=es.row_language(row),
                task=es.row_task(row),
                reference=es.row_reference(row),
                hypothesis=self._hypotheses[row],
            )
            for row in map(int, rows)
        )
        cells = score_cells(
            [h.language for h in hypotheses],
            [h.task for h in hypotheses],
            [h.reference for h in hypotheses],
            [h.hypothesis for h in hypotheses],
        )
        return EvalResult(
            cells=cells,
            hypotheses=hypotheses,
            n_per_language=n_per_language,
            decode_seconds=seconds,
            rows_decoded=len(todo),
        )

    def _decode(self, rows: list[int]) -> None:
        es = self.eval_set
        clips = list(dict.fromkeys(es.row_clip(row) for row in rows))
        position = {clip: i for i, clip in enumerate(clips)}
        # Features stay in their stored dtype (float16) until the decoder moves them to the device.
        features = np.asarray(es.features[np.asarray(clips)])
        token_ids = self.decoder.decode(
            features, [position[es.row_clip(row)] for row in rows], [self._prompts[row] for row in rows]
        )
        texts = self.tokenizer.batch_decode(token_ids, skip_special_tokens=True)
        for row, text in zip(rows, texts, strict=True):
            self._hypotheses[row] = text.strip()
