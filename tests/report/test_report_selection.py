"""The report's Selection section: from a hand-made selection.json (2 languages, 3 clips each, hypotheses with a
known number of wrong words / missing English words) the selection scores are `evaluation.scores` on those rows
exactly, a candidate identical to task arithmetic has a zero-width gap labelled tie, the winner is marked, a
missing reference is said, not invented; on a real run the section and its JSON are written, and with --test
the winner's test score is the one the headline measured for the best (the same weights)."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from lors_search.cli import main
from lors_search.evaluation.evaluator import Hypothesis
from lors_search.evaluation.metrics import score_cells
from lors_search.evaluation.scores import gain_retained, normalized_performance
from lors_search.rundir import SearchRun
from lors_search.report.selection import TABLE_FILE, SplitRows, selection_html, selection_table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_report import Page, read_page

REF = "one two three four five six seven eight nine ten"
EN = "the cat sat on the mat with a big red hat today"


def _rows(asr: dict[str, list[int]], st: dict[str, list[int]]) -> tuple[Hypothesis, ...]:
    """Clip j of a language: its first asr[j] words replaced by "x" (that many substitutions in 10 words), its
    translation missing its last st[j] words."""
    rows = []
    for language, errors in asr.items():
        for j, wrong in enumerate(errors):
            hyp = " ".join("x" if i < wrong else w for i, w in enumerate(REF.split()))
            en = EN.split()
            rows.append(Hypothesis(f"{language}{j}", language, "transcribe", REF, hyp))
            rows.append(Hypothesis(f"{language}{j}", language, "translate", EN, " ".join(en[: len(en) - st[language][j]])))
    return tuple(rows)


BASE = _rows({"de": [5, 6, 4], "es": [7, 5, 6]}, {"de": [6, 7, 8], "es": [7, 6, 8]})
EXPERTS = _rows({"de": [1, 0, 2], "es": [1, 1, 0]}, {"de": [0, 1, 0], "es": [1, 0, 0]})
TA = _rows({"de": [3, 2, 3], "es": [3, 3, 2]}, {"de": [3, 3, 4], "es": [2, 3, 3]})
LORS = _rows({"de": [4, 3, 3], "es": [4, 3, 3]}, {"de": [4, 3, 4], "es": [3, 4, 3]})
GOOD = _rows({"de": [1, 0, 1], "es": [1, 1, 0]}, {"de": [0, 1, 0], "es": [1, 0, 1]})
# trial -> (method, seed, search objective, rows): 7 is the winner, 9 has exactly task arithmetic's hypotheses.
TRIALS = {
    7: ("tsv_m", None, 0.71, GOOD),
    9: ("lors", None, 0.66, TA),
    0: ("task_arithmetic", "task_arithmetic", 0.52, TA),
    1: ("lors", "lors", 0.49, LORS),
}


def _cells(rows):
    return score_cells([r.language for r in rows], [r.task for r in rows], [r.reference for r in rows],
                       [r.hypothesis for r in rows])


def _objective(rows, objective: str, asr_error: str) -> float:
    """The search objective on rows, straight from evaluation.scores: mean of the two tasks' means."""
    if objective == "gain_retained":
        tasks = gain_retained(_cells(rows), _cells(BASE), _cells(EXPERTS), asr_error=asr_error).tasks
    else:
        tasks = normalized_performance(_cells(rows), _cells(EXPERTS), asr_error=asr_error).tasks
    return (tasks["transcribe"].mean + tasks["translate"].mean) / 2


def _document(objective: str = "gain_retained", asr_error: str = "wer", trials=TRIALS) -> dict:
    candidates = [
        {"trial": n, "method": method, "seed": seed, "search_objective": search,
         "selection_objective": _objective(rows, objective, asr_error),
         "selection_objectives": {objective: _objective(rows, objective, asr_error)}, "cells": _cells(rows)}
        for n, (method, seed, search, rows) in trials.items()
    ]
    winner = max(candidates, key=lambda c: c["selection_objective"])["trial"]
    return {
        "objective": objective, "mode": "max", "search_clips_per_language": 10, "selection_clips_per_language": 3,
        "winner": winner, "candidates": candidates,
        "hypotheses": {"base": [asdict(r) for r in BASE], "experts": [asdict(r) for r in EXPERTS],
                       "trials": {str(n): [asdict(r) for r in rows] for n, (_, _, _, rows) in trials.items()}},
    }


def _html_rows(data: dict) -> tuple[list[str], dict[str, list[str]]]:
    page = Page(f"<html><body>{selection_html(data)}</body></html>")
    head, *rows = page.tables["selection-table"]
    return head, {row[0]: row for row in rows}


@pytest.mark.parametrize(("objective", "asr_error"), [("gain_retained", "wer"), ("normalized_performance", "cer")])
def test_selection_scores_are_the_scores_of_the_rows(objective: str, asr_error: str) -> None:
    data = selection_table(_document(objective, asr_error), asr_error=asr_error, rounds=200)
    assert data["metric"] == ("gr" if objective == "gain_retained" else "np")
    by_trial = {row["trial"]: row for row in data["candidates"]}
    for n, (method, seed, search, rows) in TRIALS.items():
        row = by_trial[n]
        assert (row["method"], row["seed"], row["search"]) == (method, seed, search)
        assert row["selection"]["score"]["estimate"] == _objective(rows, objective, asr_error)  # exactly
        assert row["selection"]["score"]["low"] <= row["selection"]["score"]["estimate"] <= row["selection"]["score"]["high"]
        assert row["test"] is None
    # Best on the selection part first.
    assert [row["trial"] for row in data["candidates"]] == [7, 0, 9, 1]
    head, rows = _html_rows(data)
    assert head[3:5] == [f"search {objective}", f"selection {objective}"]
    assert rows["1"][4].split(" [")[0] == f"{_objective(LORS, objective, asr_error):.3f}"


def test_candidate_identical_to_task_arithmetic_ties_with_zero_width_and_winner_is_marked() -> None:
    data = selection_table(_document(), rounds=200)
    assert data["references"] == {"task_arithmetic": {"label": "task arithmetic 1/N", "trial": 0},
                                  "paper_lors": {"label": "paper-default LoRS", "trial": 1}}
    by_trial = {row["trial"]: row for row in data["candidates"]}
    for n in (9, 0):  # trial 9 decoded exactly what task arithmetic decoded; trial 0 is task arithmetic
        gap = by_trial[n]["selection"]["gaps"]["task_arithmetic"]
        assert (gap["estimate"], gap["low"], gap["high"], gap["std"]) == (0.0, 0.0, 0.0, 0.0)
        assert gap["tie"] is True
    good = by_trial[7]["selection"]["gaps"]
    gap = _objective(GOOD, "gain_retained", "wer") - _objective(TA, "gain_retained", "wer")
    assert good["task_arithmetic"]["estimate"] == gap
    assert good["task_arithmetic"]["low"] > 0 and good["task_arithmetic"]["tie"] is False
    assert [row["trial"] for row in data["candidates"] if row["winner"]] == [7] and data["winner"] == 7

    head, rows = _html_rows(data)
    assert head[5:] == ["selection gap to task arithmetic 1/N (trial 0)", "selection gap to paper-default LoRS (trial 1)"]
    assert set(rows) == {"7 (winner)", "9", "0", "1"}
    assert rows["9"][5] == "+0.000 [+0.000, +0.000] tie"
    assert rows["7 (winner)"][5].endswith("better")
    assert rows["9"][2] == "-" and rows["0"][2] == "task_arithmetic"


def test_missing_reference_is_said_not_invented() -> None:
    trials = {n: value for n, value in TRIALS.items() if n != 1}
    data = selection_table(_document(trials=trials), rounds=50)
    assert data["references"]["paper_lors"]["trial"] is None
    assert all(row["selection"]["gaps"]["paper_lors"] is None for row in data["candidates"])
    head, _ = _html_rows(data)
    assert not any("LoRS" in h for h in head)
    html = selection_html(data)
    assert "no candidate is paper-default LoRS" in html
    # A single-method lors run seeds "paper_defaults": that is paper-default LoRS.
    renamed = {**trials, 4: ("lors", "paper_defaults", 0.4, LORS)}
    assert selection_table(_document(trials=renamed), rounds=50)["references"]["paper_lors"]["trial"] == 4


def test_test_split_scores_and_gaps() -> None:
    # On "test" the roles change: trial 9 is far better than task arithmetic, trial 7 identical to it.
    test = SplitRows(BASE, EXPERTS, {7: TA, 9: GOOD, 0: TA, 1: LORS})
    data = selection_table(_document(), test=test, rounds=200)
    by_trial = {row["trial"]: row for row in data["candidates"]}
    assert by_trial[9]["test"]["score"]["estimate"] == _objective(GOOD, "gain_retained", "wer")
    assert by_trial[7]["test"]["gaps"]["task_arithmetic"]["tie"] is True
    assert by_trial[7]["test"]["gaps"]["task_arithmetic"]["high"] == 0.0
    assert by_trial[9]["test"]["gaps"]["paper_lors"]["low"] > 0
    head, rows = _html_rows(data)
    assert head[-3:] == ["test gain_retained", "test gap to task arithmetic 1/N", "test gap to paper-default LoRS"]
    assert rows["7 (winner)"][-2] == "+0.000 [+0.000, +0.000] tie"


def test_report_of_a_run_with_selection(single_run: Path, tmp_path: Path, capsys) -> None:
    """A real run with a selection.json (its candidates: the best trials and the seeds, as selection picks them;
    hand-made held-out rows): the section follows the headline, its JSON is in the files folder, the winner is what
    the report calls best, and with --test the winner's test score is the headline's for the best."""
    from lors_search.search.selection import pick_candidates

    run_dir = tmp_path / "run"
    shutil.copytree(single_run, run_dir)
    run = SearchRun(run_dir)
    space = run.space()
    finished = [t for t in run.trials.values() if run.is_full_fidelity(t)]
    picked = pick_candidates(finished, space.named_seed_points(), 3, "max")
    seeds = {seed for _, seed in picked}
    assert {"task_arithmetic", "paper_defaults"} <= seeds
    rows = {record.number: (GOOD, TA, LORS)[i % 3] for i, (record, _) in enumerate(picked)}
    trials = {record.number: (space.method, seed, float(record.objective), rows[record.number]) for record, seed in picked}
    document = _document("normalized_performance", "wer", trials)
    winner = next(n for n, (_, seed, _, _) in trials.items() if seed == "task_arithmetic")
    document["winner"] = winner
    (run_dir / "selection.json").write_text(json.dumps(document), encoding="utf-8")

    html = tmp_path / "report.html"
    assert main(["report", str(run_dir), "--out", str(html), "--test", "--device", "cpu"]) == 0
    capsys.readouterr()
    page = read_page(html)
    assert page.sections.index("headline") + 1 == page.sections.index("selection")
    table = {row[0]: row for row in page.tables["selection-table"][1:]}
    assert f"{winner} (winner)" in table
    data = json.loads((tmp_path / "report_files" / TABLE_FILE).read_text(encoding="utf-8"))
    assert data["test"] is True and data["winner"] == winner
    by_trial = {row["trial"]: row for row in data["candidates"]}
    comparison = json.loads((tmp_path / "report_files" / "comparison.json").read_text(encoding="utf-8"))
    assert comparison[0]["label"] == f"best (trial {winner})"  # export and the report take the selection winner
    assert all(column["kind"] != "candidate" for column in comparison)
    # The winner is the headline's best: the same weights, the same test rows, the same overall NP.
    headline = {row[0]: row for row in page.tables["headline-test-models"][1:]}
    assert f"{by_trial[winner]['test']['score']['estimate']:.3f}" == headline[f"best (trial {winner})"][5].split(" [")[0]
    assert by_trial[winner]["test"]["gaps"]["task_arithmetic"]["estimate"] == 0.0
    # --test scores the winner and the recipes (the seeds are those merges, whatever their overrides say); the
    # other candidates only with --test-candidates, which the page says.
    recipes = {number for number, (_, seed, _, _) in trials.items() if seed is not None}
    scored = {row["trial"] for row in data["candidates"] if row["test"]["score"] is not None}
    unscored = sorted(set(trials) - scored)
    assert scored == recipes | {winner}
    assert unscored, "the fixture's run picks a non-seed candidate"
    assert f"Not scored on test for this report: trial(s) {', '.join(map(str, unscored))}" in "".join(page.text)
    assert main(["report", str(run_dir), "--out", str(html), "--test", "--test-candidates", "--device", "cpu"]) == 0
    capsys.readouterr()
    data = json.loads((tmp_path / "report_files" / TABLE_FILE).read_text(encoding="utf-8"))
    assert all(row["test"]["score"]["estimate"] is not None for row in data["candidates"])
    assert "Not scored on test" not in "".join(read_page(html).text)
