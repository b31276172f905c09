"""The main job's phases: the plan printed first (each phase with an estimate for this machine, from the build's
own measurements in build.json and the main job's earlier runs on this build in main_job.json when present, scaled
by the load seen now), a numbered header per phase with its estimate and expected end, and the table of measured
wall times at the end (kept in main_job.json for the next run's estimates)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Seconds on the project's 2-core CPU (README, docs/benchmark.md), used when nothing was measured here yet. Build:
# a fresh build on a quiet machine; the full recipe's other phases: the README's quiet fresh-clone run at a97db38
# (scoring 77 s, the 240-trial method search 6.0 min, export 5 s, report 20 s) rounded up, as load only adds.
DEFAULTS: dict[bool, dict[str, float]] = {
    True: {"build": 140.0, "score": 30.0, "search": 45.0, "export": 30.0, "report": 20.0},
    False: {"build": 1392.0, "score": 90.0, "search": 390.0, "export": 15.0, "report": 30.0},
}
REUSED_BUILD_SECONDS = 5.0  # checking a complete build's stage hashes
TIMES_FILE = "main_job.json"  # in the benchmark directory: the last run's phase times, as idle-machine seconds


def load_factor() -> float:
    """How much slower than idle this machine runs now: the square root of the 1-minute load over the cores, at
    least 1 (measured: at load 3x the cores, the quick demo's phases ran about 1.5-2x their idle time, not 3x)."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return 1.0
    return max(1.0, load / max(1, os.cpu_count() or 1)) ** 0.5


# Each build stage's share of a first build on an idle 2-core machine (build.json's stage CPU seconds, halved where
# two processes share the work: the full recipe 1294 s, the quick one 136 s), for builds with nothing measured yet.
STAGE_SHARES: dict[bool, dict[str, float]] = {
    True: {"data": 0.036, "tokenizer": 0.049, "base": 0.486, "finetune": 0.379, "evaluate": 0.050},
    False: {"data": 0.044, "tokenizer": 0.001, "base": 0.669, "finetune": 0.274, "evaluate": 0.012},
}
PARALLEL_STAGES = ("data", "finetune", "evaluate")  # two processes at a time on a CPU


def _stage_seconds(out: Path, quick: bool) -> tuple[dict[str, float], float, str]:
    """Idle-machine seconds of each build stage and of the whole build: measured by this build's first run
    (build.json), else the project's figure split by STAGE_SHARES."""
    try:
        build = json.loads((out / "build.json").read_text(encoding="utf-8"))
        cpu = (build.get("first_build") or build)["stage_cpu_seconds"]
        stages = {stage: float(cpu.get(stage, 0.0)) / (2 if stage in PARALLEL_STAGES else 1)
                  for stage in STAGE_SHARES[quick]}
        return stages, sum(stages.values()), "rates from build.json"
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        total = DEFAULTS[quick]["build"]
        stages = {stage: total * share for stage, share in STAGE_SHARES[quick].items()}
        return stages, total, "the project's measured rates"


def build_estimate(out: Path, quick: bool, languages: Sequence[str] | None = None) -> tuple[float, str]:
    """Idle-machine seconds of the build phase and where the figure comes from: what the build would still do
    (its stage hashes checked against the recipe, as the build checks them), at this build's measured rates."""
    from lors_search.demo.build import pending_work
    from lors_search.demo.recipe import full_recipe, quick_recipe

    recipe = quick_recipe(languages) if quick else full_recipe(languages)
    todo = pending_work(out, recipe)
    if not any(todo.values()):
        return REUSED_BUILD_SECONDS, "built: every stage reused"
    seconds, total, rates = _stage_seconds(out, quick)
    if all(share == 1.0 for share in todo.values()):
        return total, f"nothing built yet: {rates}"
    estimate = REUSED_BUILD_SECONDS + sum(seconds[stage] * share for stage, share in todo.items())
    left = ", ".join(stage if share == 1.0 else f"{stage} ({share:.0%})" for stage, share in todo.items() if share)
    return estimate, f"to build: {left}; {rates}"


def measured_phases(out: Path, quick: bool) -> dict[str, float]:
    """Idle-machine seconds of the phases (not the build) of the last main job on this build (main_job.json)."""
    try:
        raw = json.loads((out / TIMES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if bool(raw.get("quick")) != quick or not isinstance(raw.get("idle_seconds"), dict):
        return {}
    return {str(k): float(v) for k, v in raw["idle_seconds"].items() if k != "build" and isinstance(v, int | float)}


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


@dataclass
class Phases:
    """Numbered phases with estimates; `begin(key)` starts one (ending the previous), `table()` compares."""

    names: list[tuple[str, str]]  # (key, description)
    estimates: dict[str, float]  # seconds on this machine, already scaled
    wall: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    factor: float = 1.0  # the load factor the estimates were scaled by

    def plan(self, factor: float, source: str) -> str:
        lines = [(f"lors-search demo: {len(self.names)} phases, about {_clock(sum(self.estimates.values()))} here "
                  f"(build: {source}; machine load x{factor:.1f})")]
        for index, (key, text) in enumerate(self.names, 1):
            lines.append(f"  {index}. {key:<7} {text}  (~{_clock(self.estimates.get(key, 0.0))})")
        return "\n".join(lines)

    _current: tuple[str, float] | None = None

    def begin(self, key: str, detail: str = "") -> None:
        """End the running phase (its wall time is kept) and start `key` with its numbered header."""
        self.end()
        index = [name for name, _ in self.names].index(key) + 1
        text = detail or dict(self.names)[key]
        estimate = self.estimates.get(key, 0.0)
        until = time.strftime("%H:%M", time.localtime(time.time() + estimate))
        print(f"\nlors-search demo: {index}/{len(self.names)} {text}  (~{_clock(estimate)}, until about {until})",
              flush=True)
        self._current = (key, time.perf_counter())

    def end(self) -> None:
        if self._current is not None:
            key, start = self._current
            self.wall[key] = time.perf_counter() - start
            self._current = None

    def table(self) -> str:
        self.end()
        lines = ["phase     wall time    estimate", "-------   ----------   ----------"]
        for key, _ in self.names:
            if key in self.wall:
                lines.append(f"{key:<9} {_clock(self.wall[key]):>10}   {_clock(self.estimates.get(key, 0.0)):>10}")
        lines.append(f"{'total':<9} {_clock(time.perf_counter() - self.started):>10}   "
                     f"{_clock(sum(self.estimates.values())):>10}")
        return "\n".join(lines)

    def save(self, out: Path, quick: bool) -> None:
        """Keep the measured phases (as idle-machine seconds: divided by the load factor) for the next run's plan;
        a phase that did not run keeps its earlier figure."""
        from lors_search.fsutil import atomic_write_text

        idle = {**measured_phases(out, quick), **{key: seconds / self.factor for key, seconds in self.wall.items()}}
        try:
            atomic_write_text(out / TIMES_FILE, json.dumps({"quick": quick, "load_factor": round(self.factor, 2),
                                                            "idle_seconds": {k: round(v, 1) for k, v in idle.items()}},
                                                           indent=2) + "\n")
        except OSError:
            pass  # a read-only benchmark: the next run estimates from the defaults


def demo_phases(
    out: Path, quick: bool, descriptions: dict[str, str], languages: Sequence[str] | None = None
) -> tuple[Phases, str]:
    """The main job's phases (in `descriptions` order) with estimates scaled by the load now."""
    factor = load_factor()
    build_seconds, source = build_estimate(out, quick, languages)
    measured = measured_phases(out, quick)
    if measured:
        source += f"; the other phases: {TIMES_FILE} of the last run on this build"
    base = {**DEFAULTS[quick], **measured, "build": build_seconds}
    estimates = {key: base.get(key, 0.0) * factor for key in descriptions}
    phases = Phases(list(descriptions.items()), estimates, factor=factor)
    return phases, phases.plan(factor, source)


__all__ = ["Phases", "TIMES_FILE", "build_estimate", "demo_phases", "load_factor", "measured_phases"]
