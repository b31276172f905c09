"""The main job, `lors-search demo`: build the embedded benchmark if needed, search `demo-methods.yaml` on a
local Ray (or `--address`), export the winner and write the run's report. Each step calls the library function
its own command calls (`build_command`, `search_command`, `export_command`, `report_command`), so what the demo
prints is what a user of `demo build`, `search`, `export` and `report` sees."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lors_search.demo.build import build_command
from lors_search.demo.paths import default_demo_dir
from lors_search.demo.phases import demo_phases
from lors_search.demo.recipe import DEFAULT_LANGUAGES, QUICK_LANGUAGES
from lors_search.demo.warm import warm_scores
from lors_search.errors import UserError
from lors_search.export.command import export_command
from lors_search.export.usage import usage_snippet
from lors_search.report.command import report_command
from lors_search.report.compare import score_recipes
from lors_search.search.command import search_command
from lors_search.space import read_space_file, shipped_space, space_from_raw


def run_name(now: float | None = None) -> str:
    """A fresh run name per invocation, so a second `lors-search demo` never collides with the first."""
    return time.strftime("demo-%Y%m%d-%H%M%S", time.localtime(now))


def space_for_languages(space_file: Path, languages: Sequence[str]) -> dict[str, Any]:
    """The shipped space restricted to the experts of `languages` (the build's languages)."""
    raw = read_space_file(space_file)
    experts = [expert for expert in raw["experts"] if expert["language"] in languages]
    missing = sorted(set(languages) - {expert["language"] for expert in experts})
    if missing:
        raise UserError(f"{space_file.name} has no expert for {', '.join(missing)}; edit a copy of it instead")
    raw["experts"] = experts
    raw.setdefault("data", {})["languages"] = list(languages)
    return raw


PHASES = {
    "build": "build (or reuse) the benchmark",
    "score": "score the unchanging models once (score cache)",
    "search": "search the merge",
    "export": "export the winner (chosen on held-out dev clips)",
    "report": "write the report",
}


def _step(command: str, call: Callable[[], int]) -> int:
    """One step, reporting a bad input or an interruption as its own command does (`lors-search search: error:
    ...`); its exit code."""
    try:
        return call()
    except UserError as exc:
        print(f"lors-search {command}: error: {exc}", file=sys.stderr)
        return UserError.exit_code
    except KeyboardInterrupt:
        print(f"lors-search {command}: interrupted", file=sys.stderr)
        return 130


def run_main_job(args: argparse.Namespace) -> int:
    quick = bool(getattr(args, "quick", False))
    out = Path(getattr(args, "out", None) or default_demo_dir(quick)).expanduser().resolve()
    languages = tuple(getattr(args, "langs", None) or (QUICK_LANGUAGES if quick else DEFAULT_LANGUAGES))
    runs_dir = Path(getattr(args, "runs_dir", None) or "runs")
    exports_dir = Path(getattr(args, "exports_dir", None) or "exports")

    phases, plan = demo_phases(out, quick, PHASES, languages)
    print(plan, flush=True)
    phases.begin("build", f"build (or reuse) the benchmark in {out}")
    build_command(quick, out, list(languages), force=False)
    # The method search with honest selection (issue 10): the winner is chosen on held-out dev clips.
    space_file = shipped_space("smoke-methods" if quick else "demo-methods")
    name = getattr(args, "name", None) or run_name()
    raw = space_for_languages(space_file, languages)
    raw["name"] = name
    # The shipped spaces name their files through {demo}/{demo-quick}: both are this build.
    places = {"{demo}": out, "{demo-quick}": out}
    space = space_from_raw(raw, space_file.resolve().parent, f"search space {space_file}", places=places)

    phases.begin("score", "score the base, experts, multi-task model and the two recipes on dev and test "
                          "(once per benchmark)")
    warm_scores(out, languages)
    # Task arithmetic 1/N and paper-default LoRS are the same merges for every run on this build: scored here
    # once, every report reads them from the cache.
    score_recipes(space, progress=lambda message: print(f"  {message}", flush=True))

    phases.begin("search", f"search {space_file.name} ({', '.join(languages)}) as run {name}")
    code = _step("search", lambda: search_command(
        space, space_file, name=name, runs_dir=runs_dir, address=getattr(args, "address", None),
        hints=False,  # the job runs the next steps itself: a "next: ..." hint would contradict it
    ))
    if code != 0:
        return code

    run_dir = runs_dir / name
    export_dir = exports_dir / name
    phases.begin("export", f"export the winner (chosen on held-out dev clips) to {export_dir}")
    code = _step("export", lambda: export_command(run_dir, export_dir))
    if code != 0:
        return code
    phases.begin("report", f"report of {run_dir}, with the test-split final check")
    # The demo is where a new user sees whether the search pays off, so its report includes the held-out test
    # split (scored after selection, never used by it).
    code = _step("report", lambda: report_command(run_dir, test=True))
    if code != 0:
        return code
    print("\n" + phases.table())
    phases.save(out, quick)  # the next run's plan estimates these phases from this run
    print(f"\ndone: run {run_dir}, report {run_dir / 'report.html'}, merged model {export_dir}")
    print(usage_snippet(export_dir))
    return 0
