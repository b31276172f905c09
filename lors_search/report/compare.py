"""The report's model comparison: the search's best merge against the base, each language's expert, task
arithmetic (lambda = 1/N), LoRS-Merging with the paper's defaults (arXiv 2502.17380: rank 1 % of the smaller
side, density 0.2, lambda = 1/N) and the space's `compare` models (e.g. the multi-task model), per language and
task, on dev (the search's subset) and, only when asked, on test: a final check that never fed selection.

The best's dev cells are the search's own measurement. Every model's per-clip rows (which the headline's
bootstrap needs) come from the score cache kept with the dataset (`evaluation/score_cache.py`) when weights
with the same content hash were scored before (the base, the experts, the multi-task model and the fixed
recipe merges of an earlier report); the rest is merged in memory into one resident model and evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from lors_search.errors import UserError
from lors_search.export.build import combined_max_ranks, space_gram_sources
from lors_search.export.exporter import DevData
from lors_search.evaluation.evaluator import Hypothesis
from lors_search.evaluation.score_cache import EvalSettings, ScoreCache, cached_rows, state_hash
from lors_search.merging import MergeParams, ParamValues
from lors_search.merging.service import MergeService
from lors_search.rundir import SearchRun, TrialRecord

Cells = dict[str, dict[str, Any]]
Progress = Callable[[str], None]


@dataclass
class ModelScores:
    """One column of the comparison: `dev` / `test` cells ("<lang>/<task>" -> metrics) and the per-clip rows
    they were computed from (for the bootstrap; the best's dev cells are the search's own measurement)."""

    label: str
    kind: str  # best | base | expert | task_arithmetic | paper_lors | compare | candidate (selection, test only)
    dev: Cells = field(default_factory=dict)
    test: Cells | None = None
    note: str = ""
    dev_rows: tuple[Hypothesis, ...] = ()
    test_rows: tuple[Hypothesis, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written beside the report (cells, not rows)."""
        return {"label": self.label, "kind": self.kind, "dev": self.dev, "test": self.test, "note": self.note}


def _task_arithmetic() -> MergeParams:
    return MergeParams(method="task_arithmetic")  # the method's default scale: 1 / N


def _paper_lors() -> MergeParams:
    return MergeParams(method="lors", params=ParamValues(rank_ratio=0.01, density=0.2))


def _restrict(cells: Mapping[str, Any], languages: Sequence[str]) -> Cells:
    return {cell: dict(metrics) for cell, metrics in cells.items() if cell.partition("/")[0] in languages}


def _cells(rows: Sequence[Hypothesis]) -> Cells:
    from lors_search.evaluation.metrics import score_cells

    return score_cells([r.language for r in rows], [r.task for r in rows], [r.reference for r in rows],
                       [r.hypothesis for r in rows])


class _Scorer:
    """A resident model with dev (and test) evaluators, reset after each change of weights. Rows of weights
    seen before (same content hash) come from the score cache kept with the dataset."""

    def __init__(
        self, base_dir: str, data: DevData, n_dev: int | None, device: torch.device, bar: bool = False,
        cache: ScoreCache | None = None,
    ) -> None:
        from lors_search.evaluation.decoding import window_seconds
        from lors_search.evaluation.evalset import load_eval_set
        from lors_search.evaluation.evaluator import Evaluator
        from lors_search.evaluation.model_dir import load_model_dir

        self.data, self.n_dev, self.device, self.bar, self.cache = data, n_dev, device, bar, cache
        self.model, self.tokenizer = load_model_dir(base_dir, device)
        self.window = window_seconds(self.model.config)
        self.target = self.model.state_dict()
        self.settings = EvalSettings(self.window, tuple(data.tasks), device.type)
        self._key: str | None = None
        self._evaluators: dict[tuple[str, tuple[str, ...] | None], Any] = {}
        self._load_eval_set, self._evaluator_class = load_eval_set, Evaluator

    def _evaluator(self, split: str, languages: tuple[str, ...] | None) -> Any:
        key = (split, languages)
        if key not in self._evaluators:
            eval_set = self._load_eval_set(
                self.data.path,
                split,
                window_seconds=self.window,
                languages=languages or self.data.languages,
                tasks=self.data.tasks,
                allow_test=split == "test",
            )
            self._evaluators[key] = self._evaluator_class(
                self.model, self.tokenizer, eval_set, batch_size=self.data.batch_size, device=self.device
            )
        return self._evaluators[key]

    def close(self) -> None:
        """Let go of the model, its weights and the evaluators, so the next model loads into the freed memory."""
        self._evaluators.clear()
        del self.model, self.target

    def changed(self) -> None:
        self._key = None
        for evaluator in self._evaluators.values():
            evaluator.reset()

    def rows(self, split: str, languages: tuple[str, ...] | None = None) -> tuple[Hypothesis, ...]:
        n = self.n_dev if split == self.data.split else None
        if self._key is None:
            self._key = state_hash(self.target)
        wanted = languages or self.data.languages or self._evaluator(split, None).eval_set.languages

        def decode(missing: tuple[str, ...]) -> tuple[Sequence[Hypothesis], dict[str, int]]:
            evaluator = self._evaluator(split, missing)
            es = evaluator.eval_set
            ranks = {es.clip_ids[i]: int(es.ranks[i]) for i in range(es.n_clips)}
            return evaluator.evaluate(n, progress=self.bar).hypotheses, ranks

        return cached_rows(self.cache, self._key, split, tuple(wanted), self.settings, n, decode)

    def score(self, split: str, languages: tuple[str, ...] | None = None) -> tuple[Cells, tuple[Hypothesis, ...]]:
        rows = self.rows(split, languages)
        return _cells(rows), rows


def _score_other_model(
    path: str, data: DevData, n_dev: int | None, test: bool, device: torch.device, bar: bool,
    cache: ScoreCache | None,
) -> ModelScores:
    scorer = _Scorer(path, data, n_dev, device, bar, cache)
    dev, dev_rows = scorer.score(data.split)
    test_cells, test_rows = scorer.score("test") if test else (None, None)
    return ModelScores("", "compare", dev=dev, test=test_cells, dev_rows=dev_rows, test_rows=test_rows)


def compare_models(
    run: SearchRun,
    best: TrialRecord,
    *,
    test: bool = False,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    bar: bool = False,
    cache: bool = True,
    candidates: Sequence[TrialRecord] = (),
) -> list[ModelScores]:
    """The comparison columns, best merge first. `cache`: reuse and keep rows in the dataset's score cache.
    `candidates` (with `test`): trials decoded on test only, as columns of kind "candidate" at the end (the
    selection section's test scores), merged with the same prepared experts."""
    say = progress or (lambda message: None)
    device = torch.device(device)
    space = run.space()
    data = DevData.of_space(space)
    n_dev = best.n_per_language
    config, grams = space_gram_sources(best.merge_config(), space)
    columns: list[ModelScores] = []
    store = ScoreCache(data.path) if cache else None
    others = []  # (trial, its merge params) of the candidates; RegMean ones add their Gram sources
    for record in candidates if test else ():
        other_config, other_grams = space_gram_sources(record.merge_config(), space)
        grams = {**other_grams, **grams}
        others.append((record.number, other_config.merge_params()))

    builder = MergeService.from_config(config, device=device, progress=say)
    all_params = (config.merge_params(), _task_arithmetic(), _paper_lors(), *(params for _, params in others))
    plans = [builder.plan(params) for params in all_params]
    builder.prepare(combined_max_ranks(space.max_ranks(), *(plan.max_ranks() for plan in plans)), grams)
    scorer = _Scorer(config.base, data, n_dev, device, bar, store)
    splits = (data.split, "test") if test else (data.split,)

    def merged(params: MergeParams) -> None:
        builder.merge_into(scorer.target, params)
        scorer.changed()

    def scored(label: str, kind: str, note: str = "", languages: tuple[str, ...] | None = None) -> ModelScores:
        before = (store.hits, store.misses) if store else (0, 0)
        results = {split: scorer.score(split, languages) for split in splits}
        cached = store is not None and store.misses == before[1]
        say(f"{'cached ' if cached else 'scored '}{label} on {' and '.join(splits)}")
        dev, dev_rows = results[data.split]
        test_cells, test_rows = results["test"] if test else (None, None)
        return ModelScores(label, kind, dev=dev, test=test_cells, note=note, dev_rows=dev_rows, test_rows=test_rows)

    # The search's best: the dev cells shown are as the search measured them (export re-measures and verifies
    # them); its rows feed the bootstrap.
    merged(config.merge_params())
    column = scored(f"best (trial {best.number})", "best", note=config.method)
    column.dev = dict(best.cells)
    columns.append(column)

    n_experts = len(config.experts)
    for label, kind, params in (
        (f"task arithmetic (1/{n_experts})", "task_arithmetic", _task_arithmetic()),
        ("LoRS paper defaults", "paper_lors", _paper_lors()),
    ):
        merged(params)
        columns.append(scored(label, kind))

    selection = []
    for number, params in others:
        merged(params)
        before = store.misses if store else 0
        test_cells, test_rows = scorer.score("test")
        say(f"{'cached' if store is not None and store.misses == before else 'scored'} candidate trial {number} on test")
        selection.append(ModelScores(f"trial {number}", "candidate", test=test_cells, test_rows=test_rows))

    builder.restore_base(scorer.target)
    scorer.changed()
    columns.insert(1, scored("base", "base"))
    builder.merger = None

    from lors_search.checkpoints import load_checkpoint

    experts = ModelScores("expert (own language)", "expert", test={} if test else None, test_rows=() if test else None)
    for expert in space.experts:
        state = load_checkpoint(expert.path).state_dict
        with torch.no_grad():
            for name, tensor in state.items():
                if name in scorer.target:
                    scorer.target[name].copy_(tensor)
        scorer.changed()
        own = scored(f"expert {expert.name}", "expert", languages=(expert.language,))
        experts.dev.update(_restrict(own.dev, (expert.language,)))
        experts.dev_rows += own.dev_rows
        if test:
            assert experts.test is not None and experts.test_rows is not None and own.test is not None
            experts.test.update(own.test)
            experts.test_rows += own.test_rows or ()
    columns.insert(2, experts)
    scorer.close()  # the compare models load next, one at a time

    for name, path in space.compare.items():
        misses = store.misses if store else 0
        try:
            other = _score_other_model(path, data, n_dev, test, device, bar, store)
        except UserError as exc:
            raise UserError(f"compare model {name}: {exc}") from None
        other.label, other.note = name, path
        cached = store is not None and store.misses == misses
        say(f"{'cached' if cached else 'scored'} {name} ({path}) on {' and '.join(splits)}")
        columns.append(other)
    return columns + selection
