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
