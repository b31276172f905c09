"""The report's Selection section: every candidate that honest selection re-scored (`search/selection.py`) with its
search score, its score on the held-out selection clips and (with `--test`) on test, each with a paired bootstrap
95 % interval (`evaluation/bootstrap.py`), and its gaps to task arithmetic 1/N and to paper-default LoRS: the
candidates seeded as those. A gap whose interval contains 0 is a tie.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from lors_search.errors import UserError
from lors_search.evaluation.bootstrap import OVERALL, BootstrapResult, ClipRow, Interval, bootstrap_scores, rows_from_dicts
from lors_search.report.headline import ROUNDS, SEED, interval_text
from lors_search.report.html import table

TABLE_FILE = "selection_table.json"
# Objective name -> bootstrap metric; honest selection needs a single objective, one of these two.
METRIC_OF = {"gain_retained": "gr", "normalized_performance": "np"}
# Reference key -> label; a candidate is the reference when its seed is one of the names (lors: method lors).
REFERENCES: tuple[tuple[str, str], ...] = (("task_arithmetic", "task arithmetic 1/N"), ("paper_lors", "paper-default LoRS"))


@dataclass(frozen=True)
class SplitRows:
    """Per-clip rows of one split: the base's, the experts' (each on its own language), and each candidate's."""

    base: Sequence[ClipRow]
    experts: Sequence[ClipRow]
    trials: Mapping[int, Sequence[ClipRow]]


def reference_trials(candidates: Sequence[Mapping[str, Any]]) -> dict[str, int | None]:
    """The trial of each reference among the candidates (None: not among them). Task arithmetic: seed
    "task_arithmetic"; paper-default LoRS: seed "lors" (several-method spaces) or "paper_defaults" of a lors run."""

    def first(match: Any) -> int | None:
        return next((int(c["trial"]) for c in candidates if match(c)), None)

    return {
        "task_arithmetic": first(lambda c: c.get("seed") == "task_arithmetic"),
        "paper_lors": first(
            lambda c: c.get("seed") == "lors" or (c.get("seed") == "paper_defaults" and c.get("method") == "lors")
        ),
    }


def _label(trial: int) -> str:
    return f"trial {trial}"


def _interval(value: Interval, *, gap: bool = False) -> dict[str, Any]:
    out = value.to_dict()
    if gap:
        out["tie"] = value.tie
    return out


def _split_part(
    result: BootstrapResult | None, trials: Sequence[int], metric: str, references: Mapping[str, int | None]
) -> dict[int, dict[str, Any]]:
    """Per trial: the score's interval and its gap to each present reference (None where the reference is absent)."""
    out: dict[int, dict[str, Any]] = {}
    for trial in trials:
        if result is None or _label(trial) not in result.estimates:
            out[trial] = {"score": None, "gaps": {key: None for key, _ in REFERENCES}}
            continue
        gaps: dict[str, Any] = {}
        for key, _ in REFERENCES:
            other = references.get(key)
            gaps[key] = (
                None if other is None or _label(other) not in result.estimates
                else _interval(result.gap(_label(trial), _label(other), metric, OVERALL), gap=True)
            )
        out[trial] = {"score": _interval(result.interval(_label(trial), metric, OVERALL)), "gaps": gaps}
    return out


def _bootstrap(rows: SplitRows, trials: Sequence[int], what: str, **options: Any) -> BootstrapResult | None:
    models = {_label(trial): rows.trials[trial] for trial in trials if rows.trials.get(trial)}
    if not models or not rows.base or not rows.experts:
        return None
    try:
        return bootstrap_scores(models, rows.base, rows.experts, **options)
    except ValueError as exc:
        raise UserError(f"selection table on {what}: {exc}") from None


def selection_table(
    document: Mapping[str, Any],
    *,
    asr_error: str = "wer",
    weights: Mapping[str, float] | None = None,
    test: SplitRows | None = None,
    rounds: int = ROUNDS,
    seed: int = SEED,
) -> dict[str, Any]:
    """The table of a run's selection.json (JSON-ready): per candidate, best first on the selection part, its search
    score, its selection score and gaps with intervals, and with `test` the same on test.

    `asr_error` and `weights` (per task: the objective's asr_weight / st_weight) are the search objective's, so the
    estimates are the objective on the rows (`space.score`)."""
    objective = str(document["objective"])
    metric = METRIC_OF.get(objective)
    candidates = list(document["candidates"])
    trials = [int(c["trial"]) for c in candidates]
    references = reference_trials(candidates)
    sign = -1.0 if document.get("mode") == "min" else 1.0
    options: dict[str, Any] = {"rounds": rounds, "seed": seed, "asr_error": asr_error, "weights": weights}

    selection: dict[int, dict[str, Any]] = {}
    test_part: dict[int, dict[str, Any]] | None = None
    if metric is not None:
        stored = document.get("hypotheses") or {}
        held_out = SplitRows(
            rows_from_dicts(stored.get("base") or ()),
            rows_from_dicts(stored.get("experts") or ()),
            {int(k): rows_from_dicts(v) for k, v in (stored.get("trials") or {}).items()},
        )
        selection = _split_part(_bootstrap(held_out, trials, "the selection part", **options), trials, metric, references)
        if test is not None:
            test_part = _split_part(_bootstrap(test, trials, "test", **options), trials, metric, references)

    winner = int(document["winner"])
    rows = []
    for c in candidates:
        trial = int(c["trial"])
        rows.append({
            "trial": trial,
            "method": c.get("method"),
            "seed": c.get("seed"),
            "winner": trial == winner,
            "search": c.get("search_objective"),
            "selection_objective": c.get("selection_objective"),  # as the search's selection step computed it
            "selection": selection.get(trial),
            "test": None if test_part is None else test_part.get(trial),
        })
    rows.sort(key=lambda r: (r["selection_objective"] is None, -sign * float(r["selection_objective"] or 0.0), r["trial"]))
    return {
        "objective": objective,
        "mode": "min" if sign < 0 else "max",
        "metric": metric,
        "asr_error": asr_error,
        "weights": dict(weights) if weights else None,
        "rounds": rounds,
        "seed": seed,
        "search_clips_per_language": document.get("search_clips_per_language"),
        "selection_clips_per_language": document.get("selection_clips_per_language"),
        "winner": winner,
        "references": {key: {"label": label, "trial": references[key]} for key, label in REFERENCES},
        "test": test is not None,
        "candidates": rows,
    }


def _plain(value: Any) -> str:
    """A score without interval, to the digits of the ones with (non-finite or missing: "-")."""
    if value is None or not math.isfinite(float(value)):
        return "-"
    return f"{float(value):.3f}"


def _score_text(part: Mapping[str, Any] | None) -> str:
    score = None if part is None else part.get("score")
    return "-" if score is None else interval_text(_as_interval(score))


def _gap_text(part: Mapping[str, Any] | None, key: str) -> str:
    gap = None if part is None else part["gaps"].get(key)
    return "-" if gap is None else interval_text(_as_interval(gap), signed=True)


def _as_interval(data: Mapping[str, Any]) -> Interval:
    return Interval(data["estimate"], data["mean"], data["std"], data["low"], data["high"], data["level"],
                    data["rounds"], data["undefined"])


def selection_html(table_data: Mapping[str, Any], *, table_id: str = "selection-table") -> str:
    """The section: a note on the split, one row per candidate (the winner marked), what is missing, how to read it."""
    name = str(table_data["objective"])
    present = [(key, label) for key, label in REFERENCES if table_data["references"][key]["trial"] is not None]
    missing = [label for key, label in REFERENCES if table_data["references"][key]["trial"] is None]
    test = bool(table_data["test"])
    head = ["trial", "method", "seed", f"search {name}", f"selection {name}"]
    head += [f"selection gap to {label} (trial {table_data['references'][key]['trial']})" for key, label in present]
    if test:
        head.append(f"test {name}")
        head += [f"test gap to {label}" for _, label in present]
    rows = []
    for row in table_data["candidates"]:
        cells = [f"{row['trial']} (winner)" if row["winner"] else str(row["trial"]), str(row["method"]),
                 row["seed"] or "-", _plain(row["search"]), _score_text(row["selection"])]
        if row["selection"] is None:  # no bootstrap (objective without one): the stored value
            cells[-1] = _plain(row["selection_objective"])
        cells += [_gap_text(row["selection"], key) for key, _ in present]
        if test:
            cells.append(_score_text(row["test"]))
            cells += [_gap_text(row["test"], key) for key, _ in present]
        rows.append(cells)
    n_search, n_selection = table_data["search_clips_per_language"], table_data["selection_clips_per_language"]
    parts = [
        (f'<p>The search scored trials on the first {escape(str(n_search))} dev clips per language; the best '
         "candidates and the seed points were then re-scored on the next "
         f"{escape(str(n_selection))} clips per language, which no trial saw, and the winner (what "
         "<code>lors-search export</code> takes) is the best there.</p>"),
        table(head, rows, table_id=table_id),
    ]
    if missing:
        parts.append(
            "<p>" + escape("; ".join(f"no candidate is {label}" for label in missing)) + " (the space did not seed "
            "it), so there is no gap to it.</p>"
        )
    unscored = [str(row["trial"]) for row in table_data["candidates"] if test and (row["test"] or {}).get("score") is None]
    if unscored:
        parts.append(
            f"<p>Not scored on test for this report: trial(s) {escape(', '.join(unscored))} (each is a whole test "
            "decoding; the winner, the recipes and candidates scored before are). <code>lors-search report RUN --test "
            "--test-candidates</code> scores every candidate.</p>"
        )
    if table_data["metric"] is None:
        parts.append(f"<p>No bootstrap for objective {escape(name)}: the selection scores are the stored ones.</p>")
    parts.append(
        f'<p class="note">Search: {escape(name)} on the search part, as the search measured it (biased upwards for '
        "the best trials: it was optimised on those clips). Selection"
        + (" and test" if test else "")
        + f": {escape(name)} on the held-out part"
        + (" and on the test split (never used for selection)" if test else "")
        + f", with the 95 % interval of a paired bootstrap over clips ({table_data['rounds']} rounds, seed "
        f"{table_data['seed']}, ASR error {escape(str(table_data['asr_error']).upper())}). A gap is the candidate "
        "minus the reference on the same resampled clips; <b>tie</b> when its interval contains 0. The table's "
        f"numbers are in <code>{TABLE_FILE}</code> beside the page.</p>"
    )
    return '<section id="selection"><h2>Selection: search, held-out and test scores</h2>' + "\n".join(parts) + "</section>"


__all__ = ["REFERENCES", "TABLE_FILE", "SplitRows", "reference_trials", "selection_html", "selection_table"]
