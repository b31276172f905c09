"""Per-layer parameters of a merge: the resolved plan (`resolve_plan`, exact for any grouping or override)
summarised per (stack, layer, module): rank and kept entries of the low-rank + sparse matrices, density, and
the scale of each expert. Feeds the model card's table and the report's heatmap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lors_search.merging import MergePlan, TensorInfo

STACK_ORDER = {"encoder": 0, "decoder": 1}
MODULE_ORDER = {"self_attn": 0, "cross_attn": 1, "ffn": 2}


@dataclass(frozen=True)
class LayerParams:
    """Resolved values of one module of one layer, over its tensors and experts.

    ranks / densities: of its low-rank + sparse (eligible) matrices only (empty when it has none or the method
    uses no rank / density); scales: per expert (in the plan's expert order), over all its merged tensors.
    """

    stack: str
    layer: int
    module: str
    tensors: tuple[str, ...]
    ranks: tuple[int, ...]
    densities: tuple[float, ...]
    scales: tuple[tuple[float, ...], ...]  # per expert: the distinct scales of its tensors

    @property
    def label(self) -> str:
        return f"{self.stack}.{self.module}"


def _distinct(values: Sequence[float]) -> tuple[float, ...]:
    return tuple(sorted(set(values)))


def layer_parameters(
    plan: MergePlan, infos: Mapping[str, TensorInfo], *, uses_rank: bool = True, uses_density: bool = True
) -> list[LayerParams]:
    """One LayerParams per (stack, layer, module) that has merged tensors, ordered encoder then decoder,
    layer, module (self_attn, cross_attn, ffn)."""
    groups: dict[tuple[str, int, str], list[str]] = {}
    for name, tensor_plan in plan.tensors.items():
        info = infos.get(name)
        if info is None or info.layer is None or info.module is None or tensor_plan.treatment == "base":
            continue
        groups.setdefault((info.stack or "", info.layer, info.module), []).append(name)
    out: list[LayerParams] = []
    for (stack, layer, module), names in groups.items():
        ranks: list[int] = []
        densities: list[float] = []
        per_expert: list[list[float]] = [[] for _ in plan.experts]
        for name in names:
            tensor_plan = plan.tensors[name]
            for index, scale in enumerate(tensor_plan.scales):
                per_expert[index].append(scale)
            if tensor_plan.treatment == "lowrank_sparse":
                if uses_rank:
                    ranks.extend(tensor_plan.ranks)
                if uses_density:
                    densities.extend(tensor_plan.densities)
        out.append(
            LayerParams(
                stack=stack,
                layer=layer,
                module=module,
                tensors=tuple(names),
                ranks=tuple(ranks),
                densities=tuple(densities),
                scales=tuple(_distinct(scales) for scales in per_expert),
            )
        )
    out.sort(key=lambda p: (STACK_ORDER.get(p.stack, 9), p.layer, MODULE_ORDER.get(p.module, 9)))
    return out


def span(values: Sequence[float | int], digits: int = 3) -> str:
    """"7" for one distinct value, "5-9" for several, "-" for none."""
    if not values:
        return "-"
    low, high = min(values), max(values)

    def fmt(value: float | int) -> str:
        return str(value) if isinstance(value, int) else f"{value:.{digits}g}"

    return fmt(low) if low == high else f"{fmt(low)}-{fmt(high)}"


def markdown_table(layers: Sequence[LayerParams], experts: Sequence[str]) -> str:
    """A Markdown table: stack | layer | module | rank | density | scale (one column per expert when they
    differ, else one)."""
    same_scale = all(len({s for s in layer.scales}) == 1 for layer in layers)
    scale_heads = ["scale"] if same_scale else [f"scale {name}" for name in experts]
    head = ["stack", "layer", "module", "rank", "density", *scale_heads]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for layer in layers:
        scales = [span(layer.scales[0])] if same_scale else [span(s) for s in layer.scales]
        cells = [layer.stack, str(layer.layer), layer.module, span(layer.ranks), span(layer.densities), *scales]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
