"""Honest selection: choose the run's winner on dev clips the search never scored.

With hundreds of trials the best search score is biased upwards (the search optimises the noise of the clips
it sees). A space with `selection:` holds out the last `clips_per_language` dev clips of each language in the
stratified fidelity order (`evaluation.fidelity`: every prefix and so every suffix keeps the language, form
and voice mix); the search scores only the others. Afterwards the best `candidates` trials by search score,
plus the seed points (task arithmetic 1/N, paper-default LoRS, each method's paper defaults), are merged
again and scored on the held-out clips, in this process and without Ray; the winner is the best there.
`selection.json` keeps every candidate's search and selection scores and its per-clip hypotheses, so the
report can put bootstrap intervals on the gaps (`evaluation.bootstrap`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lors_search.errors import UserError
from lors_search.rundir import TrialRecord, ranked, write_selection

if TYPE_CHECKING:
    from lors_search.evaluation.evaluator import Hypothesis
    from lors_search.merging.params import MergeParams
    from lors_search.runtime.worker_actor import WorkerActor
    from lors_search.space import CompiledSpace

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Candidate:
    """A trial re-scored on the selection part: `seed` names the seed point it is (or None)."""

    trial: int
    method: str
    seed: str | None
    search_objective: float
    selection_objective: float
    selection_objectives: dict[str, float]
    cells: dict[str, dict[str, Any]]


def search_clips(worker: WorkerActor, space: CompiledSpace) -> int:
    """Dev clips per language the search scored on; the selection part is every clip ranked after them."""
    try:
        return space.search_part(int(worker.eval_set.ranks.max()) + 1)
    except ValueError as exc:
        raise UserError(f"search space {space.name}: {exc}") from None


def _rows(hypotheses: Sequence[Hypothesis]) -> list[dict[str, str]]:
    return [asdict(h) for h in hypotheses]


def _cells(rows: Sequence[Mapping[str, str]]) -> dict[str, dict[str, Any]]:
    from lors_search.evaluation.metrics import score_cells

    return score_cells(
        [r["language"] for r in rows], [r["task"] for r in rows], [r["reference"] for r in rows], [r["hypothesis"] for r in rows]
    )


def _decode_state(
    worker: WorkerActor, state: Mapping[str, torch.Tensor], first: int, languages: Sequence[str] | None = None
) -> list[dict[str, str]]:
    """Hypotheses of an unmerged model (the base or an expert) on the selection part, on `languages` (None:
    all). They come from the score cache's whole-split entry of these weights when there is one (the demo's
    scoring phase writes them); the rest is decoded (only the held-out clips: not kept, the cache holds
    prefixes of the clip order)."""
    from lors_search.evaluation.evalset import load_eval_set
    from lors_search.evaluation.evaluator import Evaluator
    from lors_search.evaluation.score_cache import EvalSettings, ScoreCache, state_hash

    worker.load_state(state)
    data = worker.spec.data
    wanted = tuple(languages) if languages else tuple(worker.eval_set.languages)
    cache = ScoreCache(data.path)
    settings = EvalSettings(worker.window, tuple(worker.eval_set.tasks), worker.device.type)
    key = state_hash(worker.target)
    found: dict[str, tuple[Hypothesis, ...]] = {}
    for language in wanted:
        rows = cache.lookup(key, data.split, language, settings, None, from_rank=first)
        if rows is not None:
            found[language] = rows
    missing = tuple(language for language in wanted if language not in found)
    decoded: tuple[Hypothesis, ...] = ()
    if missing == tuple(worker.eval_set.languages):
        decoded = worker.evaluator.evaluate(None, from_rank=first).hypotheses
    elif missing:
        eval_set = load_eval_set(data.path, data.split, window_seconds=worker.window, languages=missing, tasks=data.tasks)
        evaluator = Evaluator(worker.model, worker.tokenizer, eval_set, batch_size=data.batch_size, device=worker.device)
        decoded = evaluator.evaluate(None, from_rank=first).hypotheses
    # The worker's row order (clip order, each clip's tasks adjacent), whichever way a row was obtained.
    by_id = {(h.id, h.task): h for rows in found.values() for h in rows} | {(h.id, h.task): h for h in decoded}
    order = worker.eval_set
    ranks = order.ranks
    out = []
    for row in order.rows(None):
        clip = order.row_clip(int(row))
        if ranks[clip] < first or order.clip_languages[clip] not in wanted:
            continue
        out.append(by_id[(order.clip_ids[clip], order.row_task(int(row)))])
    return _rows(out)


def _decode_merge(worker: WorkerActor, params: MergeParams, first: int) -> list[dict[str, str]]:
    from lors_search.merging import resolve_plan

    plan = resolve_plan(params, worker.infos, worker.merger.expert_names, worker.spec.rules)
    worker.merger.merge_into(worker.target, params.method, plan)
    worker.weights_changed()
    return _rows(worker.evaluator.evaluate(None, from_rank=first).hypotheses)


def _matches(params: Mapping[str, Any], point: Mapping[str, Any]) -> bool:
    if set(params) != set(point):
        return False
    for name, value in point.items():
        other = params[name]
        if isinstance(value, str) or isinstance(other, str):
            if value != other:
                return False
        elif not math.isclose(float(other), float(value), rel_tol=1e-9, abs_tol=1e-12):
            return False
    return True


def pick_candidates(
    trials: Sequence[TrialRecord], seeds: Sequence[tuple[str, Mapping[str, Any]]], count: int, mode: str
) -> list[tuple[TrialRecord, str | None]]:
    """The best `count` full-fidelity trials by search objective (lors_search.rundir's rule), then every seed
    point's trial not among them: (trial record, seed name or None), in that order."""
    order = ranked(trials, mode)
    finished = sorted(order, key=lambda t: t.number)
    seed_of = {}
    for name, point in seeds:
        hit = next((t for t in finished if _matches(t.params, point)), None)
        if hit is not None and hit.number not in seed_of:
            seed_of[hit.number] = name
    chosen = order[:count]
    chosen += [t for t in finished if t.number in seed_of and t not in chosen]
    return [(t, seed_of.get(t.number)) for t in chosen]


def run_selection(
    space: CompiledSpace, run_root: Path, trials: Sequence[TrialRecord], progress: Progress = print
) -> dict[str, Any]:
    """Re-score the candidates of a finished search on the selection part and write selection.json and
    winner.yaml. `trials`: the run's finished full-fidelity trials. Returns the document written."""
    from lors_search.checkpoints import load_checkpoint
    from lors_search.runtime.local import local_worker
    from lors_search.runtime.spec import spec_from_space

    if space.selection is None:
        raise UserError("this search space has no selection part (add selection: to it)")
    if len(space.objective_names()) != 1:
        raise UserError("honest selection needs a single objective (objective.kind multi has a Pareto front instead)")
    started = time.perf_counter()
    mode = space.objective_modes()[0]
    sign = 1.0 if mode == "max" else -1.0
    candidates = pick_candidates(trials, space.named_seed_points(), space.selection.candidates, mode)
    if not candidates:
        raise UserError("the search finished no full-fidelity trial to select from")
    progress(
        f"selection: re-scoring {len(candidates)} candidate(s) on {space.selection.clips_per_language} held-out dev "
        "clips per language"
    )
    worker = local_worker(spec_from_space(space), threads=torch.get_num_threads())
    first = search_clips(worker, space)
    base_rows = _decode_state(worker, worker.merger.base, first)
    expert_rows: list[dict[str, str]] = []
    for expert in space.experts:
        expert_rows += _decode_state(worker, load_checkpoint(expert.path).state_dict, first, (expert.language,))
    references = {
        "base": _cells(base_rows),
        "experts": {
            expert.name: _cells([row for row in expert_rows if row["language"] == expert.language])
            for expert in space.experts
        },
    }
    name = space.objective_names()[0]
    scored: list[Candidate] = []
    hypotheses: dict[str, list[dict[str, str]]] = {}
    for record, seed in candidates:
        rows = _decode_merge(worker, record.merge_config().merge_params(), first)  # what the trial merged
        cells = _cells(rows)
        objectives = space.score(cells, references)
        method = str(record.params.get("method", space.method))
        scored.append(
            Candidate(record.number, method, seed, float(record.objective), objectives[name], objectives, cells)
        )
        hypotheses[str(record.number)] = rows
        progress(
            f"selection: trial {record.number} ({method}{', seed ' + seed if seed else ''}): search {name} "
            f"{float(record.objective):.4f}, selection {objectives[name]:.4f}"
        )
    winner = max(scored, key=lambda c: (sign * c.selection_objective, -c.trial))
    document = {
        "objective": name,
        "mode": "max" if sign > 0 else "min",
        "search_clips_per_language": first,
        "selection_clips_per_language": space.selection.clips_per_language,
        "winner": winner.trial,
        "candidates": [asdict(c) for c in scored],
        "hypotheses": {"base": base_rows, "experts": expert_rows, "trials": hypotheses},
        "seconds": round(time.perf_counter() - started, 2),
    }
    winner_record = next(record for record, _ in candidates if record.number == winner.trial)
    winner_yaml = write_selection(run_root, document, winner_record.merge_config_yaml)
    progress(
        f"selection: winner trial {winner.trial} ({winner.method}), selection {name} {winner.selection_objective:.4f} "
        f"(search {winner.search_objective:.4f}); its merge config: {winner_yaml}"
    )
    return document

