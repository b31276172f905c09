"""The report's headline: how much of the experts' quality the best merge kept (NP, GR per task and overall,
`evaluation/scores.py`) and whether it beats the simple recipes (task arithmetic 1/N, paper-default LoRS), each
with a paired bootstrap 95 % interval over clips (`evaluation/bootstrap.py`); a gap whose interval contains 0
is a tie.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from lors_search.evaluation.bootstrap import OVERALL, BootstrapResult, Interval, bootstrap_scores
from lors_search.report.compare import ModelScores
from lors_search.report.html import table

ROUNDS = 1000
SEED = 0
_SCOPE_LABEL = {"transcribe": "speech recognition (ASR)", "translate": "translation into English (ST)",
                OVERALL: "overall (mean of the tasks)"}
_REFERENCE_KINDS = ("task_arithmetic", "paper_lors")


def split_bootstrap(
    columns: Sequence[ModelScores], split: str, asr_error: str, *, rounds: int = ROUNDS, seed: int = SEED
) -> BootstrapResult | None:
    """The bootstrap of every merged or compared model's rows on `split` (None without base or expert rows)."""
    by_kind = {column.kind: column for column in columns}
    base, experts = by_kind.get("base"), by_kind.get("expert")
    if base is None or experts is None:
        return None
    rows = {column.label: _rows(column, split) for column in columns if column.kind not in ("base", "expert")}
    rows = {label: r for label, r in rows.items() if r}
    if not rows or not _rows(base, split) or not _rows(experts, split):
        return None
    return bootstrap_scores(rows, _rows(base, split), _rows(experts, split), rounds=rounds, seed=seed,
                            asr_error=asr_error)


def interval_text(value: Interval, *, signed: bool = False) -> str:
    """"0.523 [0.498, 0.547]"; a signed gap ends with "tie" when its interval contains 0."""
    if value.estimate is None or value.low is None or value.high is None:
        return "-"
    fmt = "{:+.3f}" if signed else "{:.3f}"
    text = f"{fmt.format(value.estimate)} [{fmt.format(value.low)}, {fmt.format(value.high)}]"
    if signed:
        text += " tie" if value.tie else (" better" if value.low > 0 else " worse")
    return text


def headline_html(
    result: BootstrapResult, columns: Sequence[ModelScores], split: str, asr_error: str, *, table_prefix: str
) -> str:
    """Two tables: the best merge per task (NP, GR, gaps to the recipes), then NP and GR of every model."""
    labels = {column.kind: column.label for column in columns if column.label in result.estimates}
    best = labels.get("best")
    out = []
    if best is not None:
        references = [(kind, labels[kind]) for kind in _REFERENCE_KINDS if kind in labels]
        head = ["task", "NP", "GR"]
        for _, label in references:
            head += [f"NP gap: best - {label}", f"GR gap: best - {label}"]
        rows = []
        for scope in _scopes(result, best):
            row = [_SCOPE_LABEL[scope], interval_text(result.interval(best, "np", scope)),
                   interval_text(result.interval(best, "gr", scope))]
            for _, label in references:
                for metric in ("np", "gr"):
                    row.append(interval_text(result.gap(best, label, metric, scope), signed=True))
            rows.append(row)
        out.append(f"<h4>{escape(best)}</h4>" + table(head, rows, table_id=f"{table_prefix}-best"))
    head = ["model"]
    scopes = _scopes(result, next(iter(result.estimates)))
    for scope in scopes:
        short = {"transcribe": "ASR", "translate": "ST", OVERALL: "overall"}[scope]
        head += [f"{short} NP", f"{short} GR"]
    rows = []
    for label in result.estimates:
        row = [label]
        for scope in scopes:
            row += [interval_text(result.interval(label, "np", scope)), interval_text(result.interval(label, "gr", scope))]
        rows.append(row)
    out.append("<h4>Every model</h4>" + table(head, rows, table_id=f"{table_prefix}-models"))
    note = (
        f'<p class="note">NP: each cell\'s score relative to its language\'s expert (ASR: 1 - {asr_error.upper()}, the '
        "ASR error the search objective uses; ST: BLEU), averaged over languages. GR: share of the expert's gain "
        "over the base kept (1 = all, 0 = none, below 0 = worse than the base). Overall: mean of the two tasks. "
        f"In brackets: 95 % interval of a paired bootstrap over {split} clips ({result.rounds} rounds, clips "
        "resampled per language, the same draw for every model, seed "
        f"{result.seed}). A gap whose interval contains 0 is a <b>tie</b>: these clips cannot tell the two apart.</p>"
    )
    return "\n".join(out) + note


def _scopes(result: BootstrapResult, label: str) -> list[str]:
    present = result.estimates[label]["np"]
    return [scope for scope in ("transcribe", "translate", OVERALL) if scope in present]


def _rows(column: ModelScores, split: str) -> tuple:
    return column.test_rows or () if split == "test" else column.dev_rows


__all__ = ["headline_html", "interval_text", "split_bootstrap"]
