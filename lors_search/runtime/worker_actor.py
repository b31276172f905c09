"""The worker actor (`lors/worker/<i>`): one per GPU or CPU slice. Holds the base model, the dev set and its
Evaluator, and every expert's prepared factors (fetched once from the expert actors) in a PreparedMerger;
`run(params, n_per_language)` merges MergeParams into the resident model in place and evaluates that dev
subset.

Nothing is read from disk and no model is built per trial. A run whose MergeParams equal the previous run's
keeps the merged weights and the decoded hypotheses, so a trial promoted to a larger subset decodes only
the new utterances (Evaluator's incremental evaluation).

The module imports torch and the merge maths inside the methods: a process that only calls the actor (a Tune
trial, through a handle from `ray.get_actor`) loads this class too, and should not pay torch's import for it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lors_search.runtime.trial_call import Packed, Scoring, unpacked

if TYPE_CHECKING:
    import torch

    from lors_search.merging.params import MergeParams
    from lors_search.merging.prepared import PreparedExpert
    from lors_search.runtime.spec import RuntimeSpec


def quiet_transformers() -> None:
    """No weight-loading progress bars in the actors' logs (they reach the driver's console)."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _node_id() -> str | None:
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


class WorkerActor:
    def __init__(
        self, spec: RuntimeSpec, index: int = 0, threads: int = 1, experts: Sequence[PreparedExpert] | None = None,
        namespace: str | None = None,
    ) -> None:
        """`experts` given (prepared in this process, e.g. by `local.prepare_experts`): no expert actors needed;
        otherwise the expert actors are found by name in the Ray namespace `namespace` (the search session's)."""
        import ray
        import torch

        from lors_search.evaluation.decoding import window_seconds
        from lors_search.evaluation.evalset import load_eval_set
        from lors_search.evaluation.evaluator import Evaluator
        from lors_search.evaluation.model_dir import load_model_dir
        from lors_search.merging import PreparedMerger, describe_state
        from lors_search.merging.tensor_names import TIED_ALIASES
        from lors_search.runtime.names import expert_actor_name
        from lors_search.runtime.expert_actor import actor_device
        from lors_search.runtime.payload import from_payload

        started = time.perf_counter()
        quiet_transformers()
        torch.set_num_threads(max(1, threads))
        self.spec = spec
        self.index = index
        self.threads = threads
        self.device = actor_device()
        model, tokenizer = load_model_dir(spec.base, self.device)
        self.model = model
        self.tokenizer = tokenizer
        self.window = window_seconds(model.config)
        data = spec.data
        self.eval_set = load_eval_set(
            data.path, data.split, window_seconds=self.window, languages=data.languages, tasks=data.tasks
        )
        self.evaluator = Evaluator(model, tokenizer, self.eval_set, batch_size=data.batch_size, device=self.device)
        # Views of the model's own tensors: the merge writes into them in place.
        self.target = model.state_dict()
        base_state = {
            name: tensor.detach().clone()
            for name, tensor in self.target.items()
            if not (
                name in TIED_ALIASES
                and TIED_ALIASES[name] in self.target
                and tensor.data_ptr() == self.target[TIED_ALIASES[name]].data_ptr()
            )
        }
        self.infos = describe_state(base_state)
        if experts is None:
            fetched = []
            for expert in spec.experts:
                handle = ray.get_actor(expert_actor_name(expert.name), namespace=namespace)
                (ref,) = ray.get(handle.prepared_ref.remote())
                fetched.append(from_payload(ray.get(ref), self.device))
            experts = fetched
        else:
            experts = [expert.to(self.device) for expert in experts]
        self.merger = PreparedMerger(base_state, experts)
        self._merged: MergeParams | None = None  # what the resident weights hold (None: unmerged or unknown)
        self.runs = 0
        self.setup_seconds = time.perf_counter() - started

    def info(self) -> dict[str, Any]:
        per_language = int(self.eval_set.ranks.max()) + 1 if self.eval_set.n_clips else 0
        return {
            "index": self.index,
            "node_id": _node_id(),
            "pid": os.getpid(),
            "device": str(self.device),
            "threads": self.threads,
            "setup_seconds": self.setup_seconds,
            "languages": list(self.eval_set.languages),
            "tasks": list(self.eval_set.tasks),
            "n_clips": self.eval_set.n_clips,
            "max_per_language": per_language,
            "runs": self.runs,
        }

    def load_state(self, state: Mapping[str, torch.Tensor]) -> None:
        """Copy an unmerged model's tensors (the base, an expert) into the resident weights."""
        import torch

        with torch.no_grad():
            for name, tensor in state.items():
                if name in self.target:
                    self.target[name].copy_(tensor)
        self.weights_changed()

    def weights_changed(self) -> None:
        """The resident weights were overwritten outside `run` (a reference model, a merge from MergeParams):
        forget which trial they hold and every hypothesis decoded with them."""
        self._merged = None
        self.evaluator.reset()

    def run(self, params: MergeParams | Packed, n_per_language: int | None = None,
            scoring: Scoring | Packed | None = None) -> dict[str, Any]:
        """Merge `params` into the resident model (skipped when they are the ones already merged: a trial's
        next rung) and evaluate the first `n_per_language` dev clips per language (None: all); with `scoring`
        (a search's objective and references), the rung's objectives too (`scores`)."""
        import torch

        from lors_search.merging import resolve_plan

        params = unpacked(params)
        merge_seconds = 0.0
        if params != self._merged:
            started = time.perf_counter()
            self._merged = None  # a failure half-way leaves no claim on the weights
            plan = resolve_plan(params, self.infos, self.merger.expert_names, self.spec.rules)
            self.merger.merge_into(self.target, params.method, plan)
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            self.evaluator.reset()
            self._merged = params
            merge_seconds = time.perf_counter() - started
        started = time.perf_counter()
        result = self.evaluator.evaluate(n_per_language)
        eval_seconds = time.perf_counter() - started
        self.runs += 1
        return {
            "cells": result.cells,
            "scores": None if scoring is None else unpacked(scoring)(result.cells, n_per_language),
            "merge_seconds": merge_seconds,
            "eval_seconds": eval_seconds,
            "rows_decoded": result.rows_decoded,
            "n_rows": result.n,
            "n_per_language": n_per_language,
            "worker": self.index,
        }

    def reference(
        self, source: str | None, languages: Sequence[str] | None, rungs: Sequence[int | None]
    ) -> dict[str, Any]:
        """Dev cells of an unmerged model at every rung: the base (`source` None) or the checkpoint at
        `source` (an expert), on `languages` only (None: all). Used once, at the start of a search. The rows
        come from the score cache kept with the dataset (`evaluation/score_cache.py`) when these weights were
        scored before (by the demo's scoring phase, a report or an earlier search); `cached` says whether
        nothing had to be decoded."""
        from lors_search.checkpoints import load_checkpoint
        from lors_search.evaluation.evalset import load_eval_set
        from lors_search.evaluation.evaluator import Evaluator
        from lors_search.evaluation.metrics import score_cells
        from lors_search.evaluation.score_cache import EvalSettings, ScoreCache, cached_rows, state_hash

        started = time.perf_counter()
        self.load_state(self.merger.base if source is None else load_checkpoint(source).state_dict)
        data = self.spec.data
        wanted = tuple(languages) if languages else tuple(self.eval_set.languages)
        cache = ScoreCache(data.path)
        settings = EvalSettings(self.window, tuple(self.eval_set.tasks), self.device.type)
        key = state_hash(self.target)
        evaluators: dict[tuple[str, ...], Evaluator] = {}  # incremental across rungs: each row decoded once

        def decode_at(n: int | None) -> Any:
            def decode(missing: tuple[str, ...]) -> tuple[Sequence[Any], dict[str, int]]:
                if missing not in evaluators:
                    eval_set = load_eval_set(data.path, data.split, window_seconds=self.window, languages=missing,
                                             tasks=data.tasks)
                    evaluators[missing] = Evaluator(self.model, self.tokenizer, eval_set, batch_size=data.batch_size,
                                                    device=self.device)
                evaluator = evaluators[missing]
                es = evaluator.eval_set
                ranks = {es.clip_ids[i]: int(es.ranks[i]) for i in range(es.n_clips)}
                return evaluator.evaluate(n).hypotheses, ranks

            return decode

        cells = {}
        for n in rungs:
            rows = cached_rows(cache, key, data.split, wanted, settings, n, decode_at(n))
            cells[n] = score_cells(
                [r.language for r in rows], [r.task for r in rows], [r.reference for r in rows],
                [r.hypothesis for r in rows],
            )
        self.evaluator.reset()
        return {
            "cells": cells,
            "seconds": time.perf_counter() - started,
            "cached": cache.misses == 0,
            "rows_decoded": sum(evaluator.rows_decoded for evaluator in evaluators.values()),
        }
