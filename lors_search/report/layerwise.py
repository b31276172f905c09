"""What the search learned about layers: per layer group (stack, layer, module) the best configuration's rank,
density and scale beside the paper's defaults (LoRS-Merging, arXiv 2502.17380: rank 1 % of the smaller side,
density 0.2, scale 1/N) and the range over the top-k trials. A flat heatmap of the best says nothing when the
best is a seed; best minus defaults and the top-k spread say whether the search moved away from them and where
the good trials agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lors_search.export.layers import LayerParams
from lors_search.rundir import SearchRun, TrialRecord, ranked
from lors_search.report.html import table

PARAMETERS = ("rank", "density", "scale")
TOP_K = 5
Key = tuple[str, int, str]


@dataclass(frozen=True)
class LayerRow:
    key: Key
    best: dict[str, float | None]
    paper: dict[str, float | None]
    top_low: dict[str, float | None]
    top_high: dict[str, float | None]


def means(layers: Sequence[LayerParams]) -> dict[Key, dict[str, float | None]]:
    """Per group, the mean over its matrices (rank, density) and experts and tensors (scale); None where unused."""
    out: dict[Key, dict[str, float | None]] = {}
    for layer in layers:
        scales = [s for per_expert in layer.scales for s in per_expert]
        out[(layer.stack, layer.layer, layer.module)] = {
            "rank": float(np.mean(layer.ranks)) if layer.ranks else None,
            "density": float(np.mean(layer.densities)) if layer.densities else None,
            "scale": float(np.mean(scales)) if scales else None,
        }
    return out


def top_trials(run: SearchRun, k: int = TOP_K) -> list[TrialRecord]:
    """The k best complete full-fidelity trials by the first objective."""
    return ranked(run.trials.values(), run.mode, run.fidelity)[:k]


def rows(best: Sequence[LayerParams], paper: Sequence[LayerParams], top: Sequence[Sequence[LayerParams]]) -> list[LayerRow]:
    b, p = means(best), means(paper)
    tops = [means(layers) for layers in top]
    out = []
    for key, values in b.items():
        low: dict[str, float | None] = {}
        high: dict[str, float | None] = {}
        for name in PARAMETERS:
            seen = [t[key][name] for t in tops if key in t and t[key][name] is not None]
            low[name] = min(seen) if seen else None  # type: ignore[type-var]
            high[name] = max(seen) if seen else None  # type: ignore[type-var]
        out.append(LayerRow(key, values, p.get(key, dict.fromkeys(PARAMETERS)), low, high))
    return out


def _fmt(value: float | None, name: str) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if name == "rank" else f"{value:.3g}"


def _diff(best: float | None, paper: float | None, name: str) -> str:
    if best is None or paper is None:
        return "-"
    delta = best - paper
    if delta == 0:
        return "="
    return f"{delta:+.1f}" if name == "rank" else f"{delta:+.3g}"


def layerwise_table(layer_rows: Sequence[LayerRow], k: int) -> str:
    used = [name for name in PARAMETERS if any(row.best[name] is not None for row in layer_rows)]
    head = ["stack", "layer", "module"]
    for name in used:
        head += [f"{name} best", f"{name} paper", f"{name} best - paper", f"{name} top-{k} range"]
    body = []
    for row in layer_rows:
        cells = [row.key[0], str(row.key[1]), row.key[2]]
        for name in used:
            low, high = row.top_low[name], row.top_high[name]
            spread = "-" if low is None else (_fmt(low, name) if low == high else f"{_fmt(low, name)} - {_fmt(high, name)}")
            best, paper = row.best[name], row.paper[name]
            cells += [_fmt(best, name), _fmt(paper, name), _diff(best, paper, name), spread]
        body.append(cells)
    return table(head, body, table_id="layerwise")


def layerwise_plot(layer_rows: Sequence[LayerRow], path: Path, *, k: int, title: str = "") -> Path:
    """One panel per parameter: x = layer group; the top-k range as a bar, the best as a dot, the paper's
    default as a cross."""
    import matplotlib.pyplot as plt

    used = [name for name in PARAMETERS if any(row.best[name] is not None for row in layer_rows)] or ["scale"]
    labels = [f"{s[:3]}{layer} {module}" for s, layer, module in (row.key for row in layer_rows)]
    x = np.arange(len(layer_rows))
    fig, axes = plt.subplots(len(used), 1, figsize=(max(6.0, 0.45 * len(x) + 2), 1.2 + 2.0 * len(used)), squeeze=False)
    for ax, name in zip(axes[:, 0], used, strict=True):
        low = np.array([np.nan if r.top_low[name] is None else r.top_low[name] for r in layer_rows], dtype=float)
        high = np.array([np.nan if r.top_high[name] is None else r.top_high[name] for r in layer_rows], dtype=float)
        best = np.array([np.nan if r.best[name] is None else r.best[name] for r in layer_rows], dtype=float)
        paper = np.array([np.nan if r.paper[name] is None else r.paper[name] for r in layer_rows], dtype=float)
        ax.vlines(x, low, high, color="#9ecae1", linewidth=6, label=f"top-{k} range")
        ax.plot(x, paper, "x", color="#c0392b", label="paper default")
        ax.plot(x, best, "o", color="#08519c", markersize=4, label="best")
        ax.set_ylabel(name, fontsize=9)
        ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
        if name == "rank" and np.nanmax(np.concatenate([high, best, paper])) > 20:
            ax.set_yscale("log")
    axes[0, 0].legend(fontsize=7, loc="upper right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)
    return path


def compare_layers(run: SearchRun, best: TrialRecord, k: int = TOP_K) -> list[LayerRow]:
    """The rows for `best` of `run`: resolved on the base's shapes (read once) for the best, the paper's
    defaults and each of the top-k trials."""
    from lors_search.checkpoints import load_checkpoint
    from lors_search.export.layers import layer_parameters
    from lors_search.merging import MergeParams, ParamValues, describe_state, get_method, resolve_plan

    config = best.merge_config()
    infos = describe_state(load_checkpoint(config.base).state_dict)
    names = tuple(expert.name for expert in config.experts)
    rules = config.effective_rules()

    def resolved(params: Any) -> list[LayerParams]:
        method = get_method(params.method)
        plan = resolve_plan(params, infos, names, rules)
        return layer_parameters(plan, infos, uses_rank=method.uses_rank, uses_density=method.uses_density)

    paper = MergeParams(method="lors", params=ParamValues(rank_ratio=0.01, density=0.2))
    top = [resolved(trial.merge_config().merge_params()) for trial in top_trials(run, k)]
    return rows(resolved(config.merge_params()), resolved(paper), top)


__all__ = ["LayerRow", "compare_layers", "layerwise_plot", "layerwise_table", "means", "rows", "top_trials"]
