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
from lors_search.merge_config import MergeConfig
from lors_search.merging.service import MergeService, merge_key
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

    def key(self) -> str:
        """The content hash of the resident weights (what the score cache is keyed by)."""
        if self._key is None:
            self._key = state_hash(self.target)
        return self._key

    def _wanted(self, split: str, languages: tuple[str, ...] | None) -> tuple[str, ...]:
        return tuple(languages or self.data.languages or self._evaluator(split, None).eval_set.languages)

    def cached_rows(self, key: str, split: str, languages: tuple[str, ...] | None = None) -> tuple[Hypothesis, ...] | None:
        """The rows of the weights whose content hash is `key`, when the cache holds every language asked for."""
        if self.cache is None:
            return None
        n = self.n_dev if split == self.data.split else None
        rows: list[Hypothesis] = []
        for language in self._wanted(split, languages):
            found = self.cache.lookup(key, split, language, self.settings, n)
            if found is None:
                return None
            rows.extend(found)
        return tuple(rows)

    def rows(self, split: str, languages: tuple[str, ...] | None = None) -> tuple[Hypothesis, ...]:
        n = self.n_dev if split == self.data.split else None
        key = self.key()
        wanted = self._wanted(split, languages)

        def decode(missing: tuple[str, ...]) -> tuple[Sequence[Hypothesis], dict[str, int]]:
            evaluator = self._evaluator(split, missing)
            es = evaluator.eval_set
            ranks = {es.clip_ids[i]: int(es.ranks[i]) for i in range(es.n_clips)}
            return evaluator.evaluate(n, progress=self.bar).hypotheses, ranks

        return cached_rows(self.cache, key, split, wanted, self.settings, n, decode)

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


class _Merges:
    """The merged models of a comparison, scored through the resident `scorer`: a merge scored before (its
    `merge_key` known to the score cache, with every row asked for) is read back without preparing the experts or
    merging; the experts are prepared once, on the first merge not found by its key, up to the ranks any of
    `configs` needs."""

    def __init__(
        self, scorer: _Scorer, configs: Sequence[MergeConfig], grams: Mapping[str, Any], device: torch.device,
        say: Progress,
    ) -> None:
        self.scorer, self.configs, self.grams, self.device, self.say = scorer, list(configs), dict(grams), device, say
        self.service: MergeService | None = None
        self.merged = 0  # merges done (not found by key with every row asked for)

    def _prepared(self) -> MergeService:
        if self.service is None:
            service = MergeService.from_config(self.configs[0], device=self.device, progress=self.say)
            ranks = [service.plan(config.merge_params()).max_ranks() for config in self.configs]
            service.prepare(combined_max_ranks(*ranks), self.grams)
            self.service = service
        return self.service

    def rows(
        self, config: MergeConfig, splits: Sequence[str], languages: tuple[str, ...] | None = None,
        *, cached_only: bool = False,
    ) -> dict[str, tuple[Cells, tuple[Hypothesis, ...]]] | None:
        """Cells and rows of the merge `config` on each of `splits`; `cached_only`: None unless the cache has them."""
        scorer, cache = self.scorer, self.scorer.cache
        key = merge_key(config, self.device) if cache is not None else None
        state = cache.merged_state(key) if cache is not None else None
        if state is not None:
            found = {split: scorer.cached_rows(state, split, languages) for split in splits}
            if all(rows is not None for rows in found.values()):
                return {split: (_cells(rows), rows) for split, rows in found.items() if rows is not None}
        if cached_only:
            return None
        self.merged += 1
        self._prepared().merge_into(scorer.target, config.merge_params())
        scorer.changed()
        out = {split: scorer.score(split, languages) for split in splits}
        if cache is not None:
            cache.remember_merge(key, scorer.key())
        return out

    def restore_base(self) -> None:
        """The resident model back to the base's weights (from the checkpoint when nothing was merged)."""
        if self.service is not None:
            self.service.restore_base(self.scorer.target)
            self.service.merger = None
            self.scorer.changed()


def recipe_configs(config: MergeConfig) -> tuple[MergeConfig, MergeConfig]:
    """Task arithmetic 1/N and paper-default LoRS over the base, experts and rules of `config`."""
    common = {"base": config.base, "experts": config.experts, "rules": config.rules, "dtype": config.dtype}
    return tuple(  # type: ignore[return-value]
        MergeConfig(method=params.method, params=params.params, overrides=params.overrides, **common)
        for params in (_task_arithmetic(), _paper_lors())
    )


def score_recipes(space: Any, *, device: torch.device | str = "cpu", progress: Progress | None = None) -> int:
    """Task arithmetic 1/N and paper-default LoRS of `space`'s experts decoded on every dev and test clip into
    the score cache kept with its data, so that every report on this benchmark reads them (the demo's scoring
    phase). Returns how many of the two had rows to decode."""
    say = progress or (lambda message: None)
    device = torch.device(device)
    data = DevData.of_space(space)
    recipes = recipe_configs(space.mapper.merge_config(_task_arithmetic()))
    scorer = _Scorer(recipes[0].base, data, None, device, False, ScoreCache(data.path))
    merges = _Merges(scorer, recipes, {}, device, say)
    cache = scorer.cache
    assert cache is not None
    decoded = 0
    for label, config in zip(("task arithmetic 1/N", "LoRS paper defaults"), recipes, strict=True):
        misses = cache.misses
        merges.rows(config, (data.split, "test"))
        decoded += cache.misses > misses
        say(f"{label}: dev and test {'decoded' if cache.misses > misses else 'cached'}")
    scorer.close()
    return decoded


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
    decode_candidates: bool = True,
) -> list[ModelScores]:
    """The comparison columns, best merge first. `cache`: reuse and keep rows in the dataset's score cache.
    `candidates` (with `test`): trials scored on test only, as columns of kind "candidate" at the end (the
    selection section's test scores), merged with the same prepared experts; `decode_candidates` False: only
    those the score cache holds (each costs a whole test decoding otherwise)."""
    say = progress or (lambda message: None)
    device = torch.device(device)
    space = run.space()
    data = DevData.of_space(space)
    n_dev = best.n_per_language
    config, grams = space_gram_sources(best.merge_config(), space)
    columns: list[ModelScores] = []
    store = ScoreCache(data.path) if cache else None
    others = []  # (trial, its merge config) of the candidates; RegMean ones add their Gram sources
    for record in candidates if test else ():
        other_config, other_grams = space_gram_sources(record.merge_config(), space)
        grams = {**other_grams, **grams}
        others.append((record.number, other_config))

    recipes = recipe_configs(config)
    scorer = _Scorer(config.base, data, n_dev, device, bar, store)
    merges = _Merges(scorer, [config, *recipes, *(other for _, other in others)], grams, device, say)
    splits = (data.split, "test") if test else (data.split,)

    def column(label: str, kind: str, results: Mapping[str, tuple[Cells, tuple[Hypothesis, ...]]], cached: bool,
               note: str = "") -> ModelScores:
        say(f"{'cached ' if cached else 'scored '}{label} on {' and '.join(splits)}")
        dev, dev_rows = results[data.split]
        test_cells, test_rows = results["test"] if test else (None, None)
        return ModelScores(label, kind, dev=dev, test=test_cells, note=note, dev_rows=dev_rows, test_rows=test_rows)

    def merged(label: str, kind: str, merge: MergeConfig, note: str = "") -> ModelScores:
        misses = store.misses if store else 0
        results = merges.rows(merge, splits)
        assert results is not None
        return column(label, kind, results, store is not None and store.misses == misses, note)

    # The search's best: the dev cells shown are as the search measured them (export re-measures and verifies
    # them); its rows feed the bootstrap.
    best_column = merged(f"best (trial {best.number})", "best", config, note=config.method)
    best_column.dev = dict(best.cells)
    columns.append(best_column)
    n_experts = len(config.experts)
    for (label, kind), recipe in zip(
        ((f"task arithmetic (1/{n_experts})", "task_arithmetic"), ("LoRS paper defaults", "paper_lors")), recipes,
        strict=True,
    ):
        columns.append(merged(label, kind, recipe))

    selection = []
    for number, other in others:
        misses = store.misses if store else 0
        found = merges.rows(other, ("test",), cached_only=not decode_candidates)
        if found is None:
            continue  # not scored on test before, and not asked to
        test_cells, test_rows = found["test"]
        cached = store is not None and store.misses == misses
        say(f"{'cached' if cached else 'scored'} candidate trial {number} on test")
        selection.append(ModelScores(f"trial {number}", "candidate", test=test_cells, test_rows=test_rows))

    def unmerged(label: str, kind: str, languages: tuple[str, ...] | None = None) -> ModelScores:
        """The resident model as it is (the base, or an expert's weights copied in)."""
        misses = store.misses if store else 0
        results = {split: scorer.score(split, languages) for split in splits}
        return column(label, kind, results, store is not None and store.misses == misses)

    merges.restore_base()
    columns.insert(1, unmerged("base", "base"))

    from lors_search.checkpoints import load_checkpoint

    experts = ModelScores("expert (own language)", "expert", test={} if test else None, test_rows=() if test else None)
    for expert in space.experts:
        state = load_checkpoint(expert.path).state_dict
        with torch.no_grad():
            for name, tensor in state.items():
                if name in scorer.target:
                    scorer.target[name].copy_(tensor)
        scorer.changed()
        own = unmerged(f"expert {expert.name}", "expert", languages=(expert.language,))
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
