"""The main job, `lors-search demo`: build the embedded benchmark if needed, search `demo.yaml` on a local Ray
(or `--address`), export the best merge and write the run's report. Each step is the same code path as its
own command, so what the demo prints is what a user of `search`, `export` and `report` sees."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from lors_search.errors import UserError


def run_name(now: float | None = None) -> str:
    """A fresh run name per invocation, so a second `lors-search demo` never collides with the first."""
    return time.strftime("demo-%Y%m%d-%H%M%S", time.localtime(now))


def space_for_languages(space_file: Path, languages: Sequence[str]) -> dict[str, Any]:
    """The shipped space restricted to the experts of `languages` (the build's languages)."""
    raw = yaml.safe_load(space_file.read_text(encoding="utf-8"))
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


def _cli(argv: list[str]) -> int:
    from lors_search.cli import main

    return main(argv)


def run_main_job(args: argparse.Namespace) -> int:
    from lors_search.console import MAIN_JOB_ENV

    # The job sets two variables for the commands it runs; a caller in the same process (a test, a notebook)
    # gets its environment back, so a later `search` prints its hints and finds its own demo directory.
    from lors_search.fsutil import preserved_environment

    with preserved_environment((MAIN_JOB_ENV, "LORS_DEMO_DIR")):
        return _main_job(args)


def _main_job(args: argparse.Namespace) -> int:
    from lors_search.cli.demo import run_build
    from lors_search.demo.paths import default_demo_dir
    from lors_search.console import MAIN_JOB_ENV
    from lors_search.demo.phases import demo_phases
    from lors_search.demo.warm import warm_scores
    from lors_search.export.usage import usage_snippet
    from lors_search.demo.recipe import DEFAULT_LANGUAGES, QUICK_LANGUAGES
    from lors_search.space import shipped_space

    quick = bool(getattr(args, "quick", False))
    out = Path(getattr(args, "out", None) or default_demo_dir(quick)).expanduser().resolve()
    languages = tuple(getattr(args, "langs", None) or (QUICK_LANGUAGES if quick else DEFAULT_LANGUAGES))
    runs_dir = Path(getattr(args, "runs_dir", None) or "runs")
    exports_dir = Path(getattr(args, "exports_dir", None) or "exports")

    # The commands below are steps of this job: their "next: ..." hints would contradict what it does next.
    os.environ[MAIN_JOB_ENV] = "1"
    phases, plan = demo_phases(out, quick, PHASES)
    print(plan, flush=True)
    phases.begin("build", f"build (or reuse) the benchmark in {out}")
    build_args = argparse.Namespace(quick=quick, out=str(out), langs=list(languages), force=False)
    run_build(build_args)
    phases.begin("score", "score the base, experts and multi-task model on dev and test (once per benchmark)")
    warm_scores(out, languages)

    # The shipped spaces name their files through {demo}/{demo-quick}; point both at this build.
    os.environ["LORS_DEMO_DIR"] = str(out)
    # The method search with honest selection (issue 10): the winner is chosen on held-out dev clips.
    space_file = shipped_space("smoke-methods" if quick else "demo-methods")
    name = getattr(args, "name", None) or run_name()
    with tempfile.TemporaryDirectory(prefix="lors-demo-space-") as tmp:
        space_path = Path(tmp) / space_file.name
        raw = space_for_languages(space_file, languages)
        raw["name"] = name
        space_path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
        phases.begin("search", f"search {space_file.name} ({', '.join(languages)}) as run {name}")
        search_argv = ["search", str(space_path), "--name", name, "--runs-dir", str(runs_dir)]
        if getattr(args, "address", None):
            search_argv += ["--address", args.address]
        code = _cli(search_argv)
    if code != 0:
        return code

    run_dir = runs_dir / name
    export_dir = exports_dir / name
    phases.begin("export", f"export the winner (chosen on held-out dev clips) to {export_dir}")
    code = _cli(["export", str(run_dir), "--out", str(export_dir)])
    if code != 0:
        return code
    phases.begin("report", f"report of {run_dir}, with the test-split final check")
    # The demo is where a new user sees whether the search pays off, so its report includes the held-out test
    # split (scored after selection, never used by it).
    code = _cli(["report", str(run_dir), "--test"])
    if code != 0:
        return code
    print("\n" + phases.table())
    phases.save(out, quick)  # the next run's plan estimates these phases from this run
    print(f"\ndone: run {run_dir}, report {run_dir / 'report.html'}, merged model {export_dir}")
    print(usage_snippet(export_dir))
    return 0
