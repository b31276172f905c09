"""The report's PNG plots (matplotlib, Agg backend, no display): the objective against trials with the best so
far, the per-layer heatmap of a merge's resolved parameters, and the Pareto front of a multi-objective study.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: files only, never a window

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from lors_search.export.layers import MODULE_ORDER, STACK_ORDER, LayerParams
from lors_search.rundir import TrialRecord

DPI = 110


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def history_plot(
    trials: Sequence[TrialRecord], objective: str, mode: str, path: Path, *, full_fidelity: int | None = None
) -> Path:
    """Objective of every trial against its number: complete trials, pruned ones at their (partial-fidelity)
    score, failed ones as marks on the axis, and the best complete value so far as a step line."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    complete = [t for t in trials if t.state == "COMPLETE" and _finite(t.objective)]
    pruned = [t for t in trials if t.state == "PRUNED" and _finite(t.objective)]
    failed = [t for t in trials if t.state == "FAIL" or (t.state != "FAIL" and not _finite(t.objective))]
    if complete:
        ax.plot([t.number for t in complete], [t.objective for t in complete], "o", color="tab:blue",
                label=f"complete ({full_fidelity or 'all'} clips/language)")
        better = max if mode == "max" else min
        xs, ys, best = [], [], None
        for t in complete:
            best = t.objective if best is None else better(best, t.objective)
            xs.append(t.number)
            ys.append(best)
        last = max(t.number for t in trials)
        ax.step(xs + [last], ys + [ys[-1]], where="post", color="tab:green", label=f"best so far ({mode})")
    if pruned:
        ax.plot([t.number for t in pruned], [t.objective for t in pruned], "v", color="tab:orange", mfc="none",
                label="pruned (score on a smaller dev subset)")
    values = [t.objective for t in complete + pruned]
    if failed:
        bottom = min(values) if values else 0.0
        ax.plot([t.number for t in failed], [bottom] * len(failed), "x", color="tab:red", markersize=9,
                label="failed (no score)", clip_on=False)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial (Optuna number)")
    ax.set_ylabel(objective)
    ax.set_title(f"{objective} by trial")
    ax.grid(True, alpha=0.3)
    if trials:
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png")
    plt.close(fig)
    return path


def _row_labels(layers: Sequence[LayerParams]) -> list[tuple[str, str]]:
    present = {(layer.stack, layer.module) for layer in layers}
    return sorted(present, key=lambda sm: (STACK_ORDER.get(sm[0], 9), MODULE_ORDER.get(sm[1], 9)))


def heatmap_plot(layers: Sequence[LayerParams], path: Path, *, title: str = "") -> Path:
    """Rank, density and scale by layer (columns) and stack/module (rows), one panel each (a panel only for the
    parameters the method uses); the mean over a module's matrices and experts, annotated when small."""
    rows = _row_labels(layers)
    width = max((layer.layer for layer in layers), default=0) + 1
    panels: list[tuple[str, np.ndarray, str]] = []
    for name, values_of, fmt in (
        ("rank", lambda layer: [float(r) for r in layer.ranks], "{:.0f}"),
        ("density", lambda layer: [float(d) for d in layer.densities], "{:.2g}"),
        ("scale", lambda layer: [s for scales in layer.scales for s in scales], "{:.2g}"),
    ):
        grid = np.full((len(rows), width), np.nan)
        for layer in layers:
            values = values_of(layer)
            if values:
                grid[rows.index((layer.stack, layer.module)), layer.layer] = float(np.mean(values))
        if not np.all(np.isnan(grid)):
            panels.append((name, grid, fmt))
    if not panels:
        panels.append(("scale", np.full((max(len(rows), 1), width), np.nan), "{:.2g}"))
    figsize = (max(6.0, 0.55 * width + 3), 1.0 + 1.6 * len(panels) * max(1, len(rows)) / 3)
    fig, axes = plt.subplots(len(panels), 1, figsize=figsize, squeeze=False)
    for ax, (name, grid, fmt) in zip(axes[:, 0], panels, strict=True):
        masked = np.ma.masked_invalid(grid)
        image = ax.imshow(masked, aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set_yticks(range(len(rows)), [f"{stack} {module}" for stack, module in rows], fontsize=8)
        ax.set_xticks(range(width), [str(i) for i in range(width)], fontsize=8)
        ax.set_xlabel("layer", fontsize=8)
        ax.set_title(name, fontsize=10)
        fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
        if grid.size <= 400:
            finite = grid[np.isfinite(grid)]
            middle = (finite.min() + finite.max()) / 2 if finite.size else 0.0
            for (i, j), value in np.ndenumerate(grid):
                if math.isfinite(value):
                    ax.text(j, i, fmt.format(value), ha="center", va="center", fontsize=7,
                            color="white" if value < middle or finite.min() == finite.max() else "black")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png")
    plt.close(fig)
    return path


def pareto_plot(
    points: Sequence[tuple[int, Sequence[float]]],
    front: Sequence[tuple[int, Sequence[float]]],
    names: Sequence[str],
    modes: Sequence[str],
    path: Path,
) -> Path:
    """The first two objectives of every complete trial, the Pareto-optimal ones highlighted and joined."""
    fig, ax = plt.subplots(figsize=(6.5, 5))
    if points:
        ax.scatter([v[0] for _, v in points], [v[1] for _, v in points], color="tab:gray", alpha=0.6, label="trials")
    if front:
        ordered = sorted(front, key=lambda item: item[1][0])
        ax.plot([v[0] for _, v in ordered], [v[1] for _, v in ordered], "o-", color="tab:red", label="Pareto front")
        for number, values in ordered:
            ax.annotate(f"#{number}", (values[0], values[1]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel(f"{names[0]} ({modes[0]})")
    ax.set_ylabel(f"{names[1]} ({modes[1]})")
    ax.set_title("Pareto front" + (f" (first two of {len(names)} objectives)" if len(names) > 2 else ""))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png")
    plt.close(fig)
    return path


def study_pareto(study: Any) -> tuple[list[tuple[int, list[float]]], list[tuple[int, list[float]]]]:
    """(all complete trials, the Pareto-optimal ones) as (number, values) from an Optuna study."""
    import optuna

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    points = [(t.number, list(t.values)) for t in complete if t.values is not None]
    front = [(t.number, list(t.values)) for t in study.best_trials]
    return points, front


def is_png(path: Path) -> bool:
    return Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


__all__ = ["heatmap_plot", "history_plot", "is_png", "pareto_plot", "study_pareto"]
