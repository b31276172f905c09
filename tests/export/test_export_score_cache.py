"""The export's verified dev rows go to the score cache kept with the dataset, keyed by the exported weights:
the report's column of the same trial (merged in memory, keyed by its weights) reads them instead of decoding
the dev split again."""

from __future__ import annotations

import json
from pathlib import Path

from lors_search.cli import main
from lors_search.evaluation.decoding import window_seconds
from lors_search.evaluation.evaluator import Hypothesis
from lors_search.evaluation.model_dir import load_model_dir
from lors_search.evaluation.score_cache import EvalSettings, ScoreCache, state_hash
from lors_search.rundir import SearchRun


def test_export_feeds_the_reports_best_column(search_run: Path, tmp_path: Path) -> None:
    run = SearchRun(search_run)
    space = run.space()
    data = Path(space.data.path)
    best = run.best_trial()
    out = tmp_path / "best"
    assert main(["export", str(search_run), "--out", str(out), "--device", "cpu"]) == 0
    model, _ = load_model_dir(out, "cpu")
    key = state_hash(model.state_dict())
    entries = sorted((data / "scores" / "dev").glob(f"{key[:32]}-*.json"))
    assert [e.name.rsplit("-", 1)[1] for e in entries] == ["de.json", "es.json"]
    for entry in entries:  # whatever wrote them (an earlier report too), the next ones are the export's
        entry.unlink()
    assert main(["export", str(search_run), "--out", str(out), "--device", "cpu", "--force"]) == 0
    entries = sorted((data / "scores" / "dev").glob(f"{key[:32]}-*.json"))
    assert len(entries) == 2

    evaluation = json.loads((out / "eval_dev.json").read_text())
    settings = EvalSettings(window_seconds(model.config), tuple(space.data.tasks), "cpu")
    cache = ScoreCache(data)
    rows = [row for language in ("de", "es")
            for row in cache.lookup(key, "dev", language, settings, best.n_per_language) or ()]
    assert sorted(rows, key=repr) == sorted((Hypothesis(**h) for h in evaluation["hypotheses"]), key=repr)

    # The report merges the same trial in memory: same weights, same key, nothing decoded on dev for it.
    from lors_search.report.compare import compare_models

    lines: list[str] = []
    columns = compare_models(run, best, test=False, device="cpu", progress=lines.append)
    assert f"cached best (trial {best.number}) on dev" in lines
    assert columns[0].dev_rows and sorted(columns[0].dev_rows, key=repr) == sorted(rows, key=repr)
