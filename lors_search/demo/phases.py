"""The main job's phases: the plan printed first (each phase with an estimate for this machine, from the build's
own measurements in build.json when present, scaled by the load seen now), a numbered header per phase, and the
table of measured wall times at the end."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

# Idle-machine seconds on the project's 2-core CPU (README, docs/benchmark.md), used when nothing was measured
# here yet. Build: a fresh build; the others: one run on a built benchmark.
DEFAULTS: dict[bool, dict[str, float]] = {
    True: {"build": 140.0, "score": 30.0, "search": 45.0, "export": 30.0, "report": 20.0},
    False: {"build": 1392.0, "score": 90.0, "search": 85.0, "export": 30.0, "report": 45.0},
}
REUSED_BUILD_SECONDS = 5.0  # checking a complete build's stage hashes


def load_factor() -> float:
    """How much slower than idle this machine runs now: the square root of the 1-minute load over the cores, at
    least 1 (measured: at load 3x the cores, the quick demo's phases ran about 1.5-2x their idle time, not 3x)."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        return 1.0
    return max(1.0, load / max(1, os.cpu_count() or 1)) ** 0.5


def build_estimate(out: Path, quick: bool) -> tuple[float, str]:
    """Idle-machine seconds of the build phase and where the figure comes from."""
    try:
        build = json.loads((out / "build.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return DEFAULTS[quick]["build"], "no build yet: the project's measured figure"
    if build.get("reused") and len(build.get("reused", [])) >= len(build.get("stages", {})) + 1:
        return REUSED_BUILD_SECONDS, "built: stages reused"
    first = build.get("first_build") or build
    idle = first.get("idle_machine_seconds") or first.get("total_seconds")
    if idle:
        return float(idle), "build.json of this build"
    return DEFAULTS[quick]["build"], "the project's measured figure"


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


@dataclass
class Phases:
    """Numbered phases with estimates; `begin(key)` starts one (ending the previous), `table()` compares."""

    names: list[tuple[str, str]]  # (key, description)
    estimates: dict[str, float]  # seconds on this machine, already scaled
    wall: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    def plan(self, factor: float, source: str) -> str:
        lines = [f"lors-search demo: {len(self.names)} phases, about {_clock(sum(self.estimates.values()))} here "
                 f"(build: {source}; machine load x{factor:.1f})"]
        for index, (key, text) in enumerate(self.names, 1):
            lines.append(f"  {index}. {key:<7} {text}  (~{_clock(self.estimates.get(key, 0.0))})")
        return "\n".join(lines)

    _current: tuple[str, float] | None = None

    def begin(self, key: str, detail: str = "") -> None:
        """End the running phase (its wall time is kept) and start `key` with its numbered header."""
        self.end()
        index = [name for name, _ in self.names].index(key) + 1
        text = detail or dict(self.names)[key]
        print(f"\nlors-search demo: {index}/{len(self.names)} {text}", flush=True)
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


def demo_phases(out: Path, quick: bool, descriptions: dict[str, str]) -> tuple[Phases, str]:
    """The main job's phases (in `descriptions` order) with estimates scaled by the load now."""
    factor = load_factor()
    build_seconds, source = build_estimate(out, quick)
    base = {**DEFAULTS[quick], "build": build_seconds}
    estimates = {key: base.get(key, 0.0) * factor for key in descriptions}
    phases = Phases(list(descriptions.items()), estimates)
    return phases, phases.plan(factor, source)


__all__ = ["Phases", "build_estimate", "demo_phases", "load_factor"]
