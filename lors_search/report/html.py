"""The report's HTML page: plain, self-contained markup (no scripts, PNGs beside it) built from escaped
strings, so any browser or `html.parser` reads it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from lors_search.export.layers import LayerParams, span
from lors_search.report.compare import ModelScores

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
td.best { font-weight: bold; }
img { max-width: 100%; border: 1px solid #eee; }
.final-check { border: 3px solid #c0392b; padding: 0 1em 1em; margin: 2em 0; background: #fdf2f0; }
.final-check h2 { color: #c0392b; }
code, pre { background: #f6f6f6; padding: 0.1em 0.3em; }
pre { padding: 0.6em; overflow-x: auto; }
.note { color: #666; font-size: 0.9em; }
"""


def table(head: Sequence[str], rows: Iterable[Sequence[str]], *, table_id: str, raw: bool = False) -> str:
    """A <table>; cells are escaped unless `raw` (then they are trusted markup built here)."""
    cell = (lambda text: text) if raw else escape
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    out = [f'<table id="{escape(table_id)}">', f"<thead><tr>{header}</tr></thead>", "<tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(c if c.startswith("<td") else f"<td>{cell(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _number(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return escape(str(value))


def comparison_table(columns: Sequence[ModelScores], split: str, task: str, metric: str, *, table_id: str) -> str:
    """Rows: languages (and their mean), columns: models; WER/CER as %, BLEU as is; the best value per row bold."""
    lower_better = metric in ("wer", "cer")
    cells_of = [(column.dev if split == "dev" else column.test) or {} for column in columns]
    languages = sorted({cell.partition("/")[0] for cells in cells_of for cell in cells if cell.endswith("/" + task)})

    def value(cells: Mapping[str, Any], language: str) -> float | None:
        metrics = cells.get(f"{language}/{task}") or {}
        raw = metrics.get(metric)
        return None if raw is None else float(raw) * (100.0 if lower_better else 1.0)

    rows = []
    grid = [[value(cells, language) for cells in cells_of] for language in languages]
    if languages:
        means = []
        for index in range(len(columns)):
            column_values = [row[index] for row in grid]
            means.append(None if any(v is None for v in column_values) else sum(column_values) / len(column_values))  # type: ignore[arg-type]
        grid.append(means)
    for label, values in zip([*languages, "mean"], grid, strict=False):
        present = [v for v in values if v is not None]
        target = (min(present) if lower_better else max(present)) if present else None
        row = [f"<td>{escape(label)}</td>"]
        for v in values:
            text = "-" if v is None else f"{v:.2f}"
            css = ' class="best"' if v is not None and v == target else ""
            row.append(f"<td{css}>{text}</td>")
        rows.append(row)
    unit = f"{metric.upper()} %" if lower_better else metric.upper()
    head = [f"language ({unit})", *(column.label for column in columns)]
    return table(head, rows, table_id=table_id, raw=True)


def layer_table(layers: Sequence[LayerParams], experts: Sequence[str]) -> str:
    same_scale = all(len(set(layer.scales)) == 1 for layer in layers)
    scale_heads = ["scale"] if same_scale else [f"scale {name}" for name in experts]
    rows = []
    for layer in layers:
        scales = [span(layer.scales[0])] if same_scale else [span(s) for s in layer.scales]
        rows.append([layer.stack, str(layer.layer), layer.module, span(layer.ranks), span(layer.densities), *scales])
    return table(["stack", "layer", "module", "rank", "density", *scale_heads], rows, table_id="layers")


def page(title: str, sections: Sequence[str]) -> str:
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{escape(title)}</title>",
            f"<style>{STYLE}</style>",
            "</head>",
            "<body>",
            *sections,
            "</body>",
            "</html>",
            "",
        ]
    )


__all__ = ["comparison_table", "layer_table", "page", "table", "_number"]
