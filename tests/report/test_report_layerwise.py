"""The layer-wise comparison: per group the best's mean value, the paper's, their difference and the top-k range,
exactly from the resolved per-layer parameters."""

from __future__ import annotations

import sys
from pathlib import Path

from lors_search.export.layers import LayerParams
from lors_search.report.layerwise import layerwise_table, rows

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_report import Page


def _layer(layer: int, rank: int, density: float, scale: float) -> LayerParams:
    return LayerParams("encoder", layer, "ffn", ("a", "b"), (rank, rank + 2), (density, density), ((scale,), (scale,)))


def test_rows_and_table() -> None:
    best = [_layer(0, 4, 0.5, 0.25), _layer(1, 1, 0.2, 0.5)]
    paper = [_layer(0, 1, 0.2, 0.5), _layer(1, 1, 0.2, 0.5)]
    top = [best, [_layer(0, 10, 0.1, 0.3), _layer(1, 1, 0.2, 0.5)]]
    out = rows(best, paper, top)
    assert out[0].best == {"rank": 5.0, "density": 0.5, "scale": 0.25}
    assert out[0].paper == {"rank": 2.0, "density": 0.2, "scale": 0.5}
    assert (out[0].top_low["rank"], out[0].top_high["rank"]) == (5.0, 11.0)
    page = Page(f"<html><body>{layerwise_table(out, 2)}</body></html>")
    head, first, second = page.tables["layerwise"]
    assert head[3:7] == ["rank best", "rank paper", "rank best - paper", "rank top-2 range"]
    assert first[3:7] == ["5.0", "2.0", "+3.0", "5.0 - 11.0"]
    assert second[3:7] == ["2.0", "2.0", "=", "2.0"]  # the best is the default there, and every top trial agrees
    assert first[head.index("scale best - paper")] == "-0.25"
