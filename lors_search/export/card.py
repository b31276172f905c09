"""The model card sections of an exported search result: dev metrics per language and task, per-layer
parameters, the search that found the merge and how it was verified (appended to the checkpoint card of
`lors_search.checkpoints.model_card`, which states the method, paper, base and experts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lors_search.export.layers import LayerParams, markdown_table
from lors_search.rundir import STUDY_DB

LORS_ARXIV = "arXiv 2502.17380"


def _fmt(metric: str, value: Any) -> str:
    if value is None:
        return "-"
    if metric in ("wer", "cer"):
        return f"{100 * float(value):.2f} %"
    if metric == "n":
        return str(int(value))
    return f"{float(value):.2f}"


def metrics_markdown(cells: Mapping[str, Mapping[str, Any]]) -> str:
    """| language | task | WER | CER | BLEU | chrF | utterances |."""
    lines = ["| language | task | WER | CER | BLEU | chrF | utterances |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for cell in sorted(cells):
        language, _, task = cell.partition("/")
        metrics = cells[cell]
        values = [_fmt(m, metrics.get(m)) for m in ("wer", "cer", "bleu", "chrf", "n")]
        lines.append(f"| {language} | {task} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def card_sections(
    *,
    cells: Mapping[str, Mapping[str, Any]],
    layers: Sequence[LayerParams],
    experts: Sequence[str],
    search: Mapping[str, Any],
    evaluation: Mapping[str, Any],
) -> dict[str, str]:
    """Titled Markdown sections for `CardInfo.sections`."""
    n = evaluation.get("n_per_language")
    subset = "every clip" if n is None else f"the first {n} clips per language, the search's full fidelity"
    dev = (
        f"Measured on the exported checkpoint, read back from disk, on the `{evaluation['split']}` split of "
        f"`{evaluation['data']}` ({subset}; greedy decoding, batch size {evaluation['batch_size']}, "
        f"device {evaluation['device']}). WER/CER on normalised text; BLEU and chrF (sacrebleu) of the "
        "translation into English.\n\n" + metrics_markdown(cells)
    )
    if evaluation.get("verified"):
        tol = evaluation.get("tolerance", 0.0)
        how = "exactly equal to" if not tol else f"within {tol:g} (absolute) of"
        dev += f"\n\nVerified: these metrics are {how} those the search measured for trial {search['trial']}."
    objectives = search.get("objectives") or {}
    lines = [
        f"- **Run:** `{search['run']}`",
        f"- **Optuna study:** `{search['study']}` (in `{STUDY_DB}` of the run directory)",
        f"- **Trial:** {search['trial']} ({search['state']}, {search['n_per_language']} clips per language)",
    ]
    for name, value in objectives.items():
        shown = "-" if value is None else f"{float(value):.6g}"
        lines.append(f"- **Objective `{name}`** ({search.get('modes', {}).get(name, 'max')}): {shown}")
    if search.get("space"):
        lines.append(f"- **Search space:** `{search['space']}`; method `{search.get('method', '')}`")
    lines.append(f"- **Trials finished in the run:** {search.get('counts', '')}")
    lines.append(f"- **Exported:** {search.get('exported_at', '')} with lors-search {search.get('version', '')}")
    layer_text = (
        "Resolved per layer and module from the merge config (the values every tensor of the module got; a range "
        "where its matrices or experts differ). Rank and density apply to the low-rank + sparse matrices "
        f"(attention projections and feed-forward weights, LoRS-Merging, {LORS_ARXIV}); the scale to every "
        "merged tensor.\n\n" + (markdown_table(layers, experts) if layers else "(no per-layer tensors)")
    )
    return {
        "Dev metrics": dev,
        "Per-layer parameters": layer_text,
        "The search that found it": "\n".join(lines),
    }
