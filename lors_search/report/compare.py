"""The report's model comparison: the search's best merge against the base, each language's expert, task
arithmetic (lambda = 1/N), LoRS-Merging with the paper's defaults (arXiv 2502.17380: rank 1 % of the smaller
side, density 0.2, lambda = 1/N) and the space's `compare` models (e.g. the multi-task model), per language and
task, on dev (the search's subset) and, only when asked, on test: a final check that never fed selection.

Dev numbers the search already measured are reused (the best trial's cells, the base and expert references in
run.json); everything else is merged in memory into one resident model and evaluated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from lors_search.errors import UserError
from lors_search.export.build import MergeBuilder, combined_max_ranks
from lors_search.export.exporter import DevData
from lors_search.export.run import SearchRun, TrialRecord
from lors_search.merging import MergeParams, ParamValues

Cells = dict[str, dict[str, Any]]
Progress = Callable[[str], None]


@dataclass
class ModelScores:
    """One column of the comparison: `dev` / `test` cells ("<lang>/<task>" -> metrics); `languages` limits
    the languages it speaks for (an expert: its own)."""

    label: str
    kind: str  # best | base | expert | task_arithmetic | paper_lors | compare
    dev: Cells = field(default_factory=dict)
    test: Cells | None = None
    note: str = ""


def _task_arithmetic() -> MergeParams:
    return MergeParams(method="task_arithmetic")  # the method's default scale: 1 / N


def _paper_lors() -> MergeParams:
    return MergeParams(method="lors", params=ParamValues(rank_ratio=0.01, density=0.2))


def _restrict(cells: Mapping[str, Any], languages: Sequence[str]) -> Cells:
    return {cell: dict(metrics) for cell, metrics in cells.items() if cell.partition("/")[0] in languages}


class _Scorer:
    """A resident model with dev (and test) evaluators, reset after each change of weights."""

    def __init__(self, base_dir: str, data: DevData, n_dev: int | None, device: torch.device, bar: bool = False) -> None:
        from lors_search.evaluation.decoding import window_seconds
        from lors_search.evaluation.evalset import load_eval_set
        from lors_search.evaluation.evaluator import Evaluator
        from lors_search.evaluation.model_dir import load_model_dir

        self.data, self.n_dev, self.device, self.bar = data, n_dev, device, bar
        self.model, self.tokenizer = load_model_dir(base_dir, device)
        self.window = window_seconds(self.model.config)
        self.target = self.model.state_dict()
        self._sets: dict[tuple[str, tuple[str, ...] | None], Any] = {}
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

    def changed(self) -> None:
        for evaluator in self._evaluators.values():
            evaluator.reset()

    def score(self, split: str, languages: tuple[str, ...] | None = None) -> Cells:
        n = self.n_dev if split == self.data.split else None
        return {cell: dict(m) for cell, m in self._evaluator(split, languages).evaluate(n, progress=self.bar).cells.items()}


def _score_other_model(
    path: str, data: DevData, n_dev: int | None, test: bool, device: torch.device, bar: bool
) -> tuple[Cells, Cells | None]:
    scorer = _Scorer(path, data, n_dev, device, bar)
    dev = scorer.score(data.split)
    return dev, (scorer.score("test") if test else None)


def compare_models(
    run: SearchRun,
    best: TrialRecord,
    *,
    test: bool = False,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    bar: bool = False,
) -> list[ModelScores]:
    """The comparison columns, best merge first."""
    say = progress or (lambda message: None)
    device = torch.device(device)
    space = run.space()
    data = DevData.of_space(space)
    n_dev = best.n_per_language
    config = best.merge_config()
    references = run.references
    columns: list[ModelScores] = []

    builder = MergeBuilder.from_config(config, device=device, progress=say)
    plans = [builder.plan(params) for params in (config.merge_params(), _task_arithmetic(), _paper_lors())]
    builder.prepare(combined_max_ranks(space.max_ranks(), *(plan.max_ranks() for plan in plans)))
    scorer = _Scorer(config.base, data, n_dev, device, bar)

    def merged(params: MergeParams) -> None:
        builder.merge_into(scorer.target, params)
        scorer.changed()

    # The search's best: dev cells as the search measured them (export re-measures and verifies them).
    column = ModelScores(f"best (trial {best.number})", "best", dev=dict(best.cells), note=config.method)
    if test:
        say(f"scoring the best merge (trial {best.number}) on test")
        merged(config.merge_params())
        column.test = scorer.score("test")
    columns.append(column)

    n_experts = len(config.experts)
    for label, kind, params in (
        (f"task arithmetic (1/{n_experts})", "task_arithmetic", _task_arithmetic()),
        ("LoRS paper defaults", "paper_lors", _paper_lors()),
    ):
        say(f"scoring {label}")
        merged(params)
        columns.append(ModelScores(label, kind, dev=scorer.score(data.split), test=scorer.score("test") if test else None))

    say("scoring the base")
    builder.restore_base(scorer.target)
    scorer.changed()
    base_dev = references.get("base") or scorer.score(data.split)
    columns.insert(1, ModelScores("base", "base", dev=dict(base_dev), test=scorer.score("test") if test else None))
    builder.merger = None

    from lors_search.checkpoints import load_checkpoint

    expert_cells = references.get("experts") or {}
    dev_experts: Cells = {}
    test_experts: Cells = {}
    for expert in space.experts:
        languages = (expert.language,)
        dev = expert_cells.get(expert.name)
        if dev is None or test:
            say(f"scoring expert {expert.name}")
            state = load_checkpoint(expert.path).state_dict
            with torch.no_grad():
                for name, tensor in state.items():
                    if name in scorer.target:
                        scorer.target[name].copy_(tensor)
            scorer.changed()
            if dev is None:
                dev = scorer.score(data.split, languages)
            if test:
                test_experts.update(scorer.score("test", languages))
        for cell, metrics in _restrict(dev, languages).items():
            dev_experts.setdefault(cell, metrics)
    columns.insert(2, ModelScores("expert (own language)", "expert", dev=dev_experts, test=test_experts if test else None))
    del scorer

    for name, path in space.compare.items():
        say(f"scoring {name} ({path})")
        try:
            dev, test_cells = _score_other_model(path, data, n_dev, test, device, bar)
        except UserError as exc:
            raise UserError(f"compare model {name}: {exc}") from None
        columns.append(ModelScores(name, "compare", dev=dev, test=test_cells, note=path))
    return columns
