"""The main job's plan: estimates from the defaults, then from the last run's measured phases (main_job.json, kept
as idle-machine seconds and scaled by the load now); each phase header says its estimate and expected end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lors_search.demo import phases as phases_module
from lors_search.demo.main_job import PHASES
from lors_search.demo.phases import DEFAULTS, TIMES_FILE, demo_phases


def test_estimates_come_from_the_last_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(phases_module, "load_factor", lambda: 2.0)
    phases, plan = demo_phases(tmp_path, True, PHASES)
    assert phases.estimates == {key: 2.0 * DEFAULTS[True][key] for key in PHASES}
    assert plan.splitlines()[0].startswith("lors-search demo: 5 phases") and "machine load x2.0" in plan
    assert [line.split()[1] for line in plan.splitlines()[1:]] == list(PHASES)

    phases.begin("search")
    header = capsys.readouterr().out.strip()
    assert re.fullmatch(r"lors-search demo: 3/5 search the merge  \(~1 min 30 s, until about \d\d:\d\d\)", header)
    phases.end()
    phases.wall = {"build": 4.0, "score": 10.0, "search": 50.0, "export": 8.0, "report": 12.0}
    phases.save(tmp_path, True)
    saved = json.loads((tmp_path / TIMES_FILE).read_text())
    assert saved == {"quick": True, "load_factor": 2.0,
                     "idle_seconds": {"build": 2.0, "score": 5.0, "search": 25.0, "export": 4.0, "report": 6.0}}

    monkeypatch.setattr(phases_module, "load_factor", lambda: 1.5)
    again, plan = demo_phases(tmp_path, True, PHASES)
    assert again.estimates == {"build": 1.5 * DEFAULTS[True]["build"], "score": 7.5, "search": 37.5, "export": 6.0,
                               "report": 9.0}  # the build's estimate comes from build.json only
    assert f"the other phases: {TIMES_FILE} of the last run on this build" in plan
    # The full recipe does not read the quick one's times.
    assert demo_phases(tmp_path, False, PHASES)[0].estimates["search"] == 1.5 * DEFAULTS[False]["search"]


def test_build_estimate_is_what_the_build_would_still_do(tmp_path: Path) -> None:
    """Read from the stage hashes as the build checks them, not from build.json: a complete build is reused
    whatever build.json says; a build missing one expert costs that expert's share of the fine-tuning; a stage
    built from another recipe is to do."""
    from lors_search.demo.build import SCORES_FILE, STAGE_FILE, stage_digests
    from lors_search.demo.recipe import quick_recipe
    from lors_search.speech.corpus import SPEC_FILE

    recipe = quick_recipe()
    digests = stage_digests(recipe)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / SPEC_FILE).write_text(recipe.corpus.model_dump_json(), encoding="utf-8")
    for stage in ("tokenizer", "base", "multitask", *(f"experts/{lang}" for lang in recipe.languages)):
        (tmp_path / stage).mkdir(parents=True)
        (tmp_path / stage / STAGE_FILE).write_text(json.dumps({"hash": digests[stage]}), encoding="utf-8")
    (tmp_path / SCORES_FILE).write_text(json.dumps({"hash": digests["scores"]}), encoding="utf-8")
    # build.json of the first build: what each stage cost (fine-tuning and evaluation ran two at a time).
    cpu = {"data": 10.0, "tokenizer": 6.0, "base": 60.0, "finetune": 100.0, "evaluate": 12.0}
    (tmp_path / "build.json").write_text(json.dumps({"first_build": {"stage_cpu_seconds": cpu}, "reused": []}))
    assert phases_module.build_estimate(tmp_path, True) == (phases_module.REUSED_BUILD_SECONDS,
                                                            "built: every stage reused")

    first = recipe.languages[0]
    (tmp_path / "experts" / first / STAGE_FILE).unlink()  # one expert left to train
    steps = recipe.expert.steps * len(recipe.languages) + recipe.multitask.steps
    share = recipe.expert_config(first).steps / steps
    seconds, source = phases_module.build_estimate(tmp_path, True)
    assert seconds == pytest.approx(phases_module.REUSED_BUILD_SECONDS + 100.0 / 2 * share)
    assert source == f"to build: finetune ({share:.0%}); rates from build.json"

    (tmp_path / "base" / STAGE_FILE).write_text(json.dumps({"hash": "another recipe"}), encoding="utf-8")
    seconds, source = phases_module.build_estimate(tmp_path, True)
    assert source.startswith("to build: base, finetune (")  # the build itself refuses it without --force
    assert seconds == pytest.approx(phases_module.REUSED_BUILD_SECONDS + 60.0 + 100.0 / 2 * share)
