"""`build_report`: a search run -> one HTML page and its PNG plots (objective by trial, per-layer heatmap of the
best configuration, Pareto front of multi-objective runs), the per-language comparison of the best merge with
the base, the experts, task arithmetic, paper-default LoRS and the `compare` models on dev (and, asked for, on
test), the candidates of honest selection (selection.json) with their search, held-out and test scores, every
trial, and how to open the study in optuna-dashboard. Written atomically.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import torch

from lors_search.errors import UserError
from lors_search.rundir import SearchRun, TrialRecord
from lors_search.fsutil import atomic_output_dir, atomic_write_text
from lors_search.report.html import _number, comparison_table, layer_table, page, table

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ReportResult:
    html: Path
    files: Path
    plots: list[Path]
    best: TrialRecord | None
    pareto: bool
    test: bool


def files_dir(html: Path) -> Path:
    """Where the page's plots live: `<stem>_files/` beside it."""
    return html.with_name(html.stem + "_files")


def dashboard_command(run: SearchRun) -> str:
    return f".venv/bin/optuna-dashboard {shlex.quote(run.storage_url)}"


def _layers_of(best: TrialRecord, device: torch.device) -> tuple[list[Any], tuple[str, ...], str]:
    """Per-layer parameters of the best trial, resolved on the base's real tensor shapes (exact for any grouping)."""
    from lors_search.checkpoints import load_checkpoint
    from lors_search.export.layers import layer_parameters
    from lors_search.merging import describe_state, get_method, resolve_plan

    config = best.merge_config()
    infos = describe_state(load_checkpoint(config.base).state_dict)
    names = tuple(expert.name for expert in config.experts)
    plan = resolve_plan(config.merge_params(), infos, names, config.effective_rules())
    method = get_method(config.method)
    return layer_parameters(plan, infos, uses_rank=method.uses_rank, uses_density=method.uses_density), names, config.method


def _space_or_none(run: SearchRun) -> Any:
    """The space when it still loads (its files may have moved since the search; --no-compare needs none)."""
    try:
        return run.space()
    except UserError:
        return None


def data_split(space: Any) -> str:
    return str(getattr(getattr(space, "data", None), "split", "dev"))


def _headline_section(columns: list[Any], dev_split: str, asr_error: str, test: bool, say: Progress) -> str:
    """NP and GR of the best merge with bootstrap intervals and its gaps to the recipes, on test when the report
    has it (the final check), and on the dev data the search selected on."""
    from lors_search.report.headline import headline_html, split_bootstrap

    parts = []
    for split in (("test", dev_split) if test else (dev_split,)):
        say(f"bootstrapping NP and GR on {split}")
        result = split_bootstrap(columns, split, asr_error)
        if result is None:
            continue
        title = "test split (final check, never used for selection)" if split == "test" else f"{split} (selection data)"
        headline = headline_html(result, columns, split, asr_error, table_prefix=f"headline-{split}")
        parts.append(f"<h3>{escape(title)}</h3>" + headline)
    if not parts:
        return ""
    return (
        '<section id="headline"><h2>How much of the experts\' quality did the merge keep?</h2>'
        + "\n".join(parts) + "</section>"
    )


def _selection_section(
    selection: dict[str, Any], space: Any, columns: list[Any], candidates: list[Any], tmp: Path, say: Progress
) -> str:
    """The Selection section (search, held-out and, given test columns, test scores of every candidate) and its
    numbers as JSON in the files folder."""
    from lors_search.report.selection import TABLE_FILE, SplitRows, selection_html, selection_table

    objective = getattr(space, "objective", None)
    weights = None if objective is None else {"transcribe": objective.asr_weight, "translate": objective.st_weight}
    test = None
    by_kind = {column.kind: column for column in columns}
    if "base" in by_kind and "expert" in by_kind:
        test = SplitRows(
            by_kind["base"].test_rows or (),
            by_kind["expert"].test_rows or (),
            {int(column.label.removeprefix("trial ")): column.test_rows or () for column in candidates},
        )
    say("bootstrapping the selection candidates" + (" on the selection part and test" if test else ""))
    data = selection_table(selection, asr_error=getattr(objective, "asr_error", "wer"), weights=weights, test=test)
    (tmp / TABLE_FILE).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return selection_html(data)


def build_report(
    run: SearchRun,
    out: str | os.PathLike[str] | None = None,
    *,
    test: bool = False,
    test_candidates: bool = False,
    compare: bool = True,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    bar: bool = False,
) -> ReportResult:
    """Write the report of `run` to `out` (default: `<run>/report.html`) and its plots to `<stem>_files/`.
    `test`: the compared models on test too; the selection candidates on test are those the score cache holds
    (the winner and the recipes among them), or all of them with `test_candidates`."""
    from lors_search.report import plots

    say = progress or (lambda message: None)
    html_path = Path(out).expanduser().resolve() if out is not None else run.files.report_html
    if html_path.suffix.lower() not in (".html", ".htm"):
        raise UserError(f"--out must name an .html file, got {html_path.name}")
    if html_path.is_dir():
        raise UserError(f"--out {html_path} is a directory; name the .html file to write")
    if test and not compare:
        raise UserError("--test needs the model comparison (leave out --no-compare)")
    device = torch.device(device)
    trials = list(run.trials.values())
    if not trials:
        raise UserError(f"run {run.name} has no finished trial yet")
    names, modes = run.objective_names, [mode for _, mode in run.objectives]
    try:
        best: TrialRecord | None = run.best_trial()
    except UserError:
        best = None
    space = run.space() if compare else _space_or_none(run)
    full = run.fidelity[-1] if run.fidelity else None

    target_files = files_dir(html_path)
    sections: list[str] = []
    rel = target_files.name
    with atomic_output_dir(target_files, force=True) as tmp:
        written: list[Path] = []
        # ---- summary ------------------------------------------------------------------------------------
        summary_rows = [
            ["run", run.name],
            ["run directory", str(run.root)],
            ["Optuna study", run.study_name],
            ["status", str(run.run.get("status", ""))],
            ["created", str(run.run.get("created", ""))],
            ["search space", f"{getattr(space, 'name', '')} (method {getattr(space, 'method', '')})" if space else ""],
            ["objectives", ", ".join(f"{n} ({m})" for n, m in run.objectives)],
            ["trials", run.describe_counts()],
            ["fidelity rungs (clips per language)", ", ".join(map(str, run.fidelity)) or "all"],
        ]
        if best is not None:
            objectives = ", ".join(f"{k} {_number(v)}" for k, v in best.objectives.items())
            summary_rows.append(["best trial", f"{best.number} ({objectives})"])
            summary_rows.append(["export it", f"lors-search export {run.root} --out DIR (add --trial {best.number} to pin it)"])
        sections.append(f"<h1>lors-search report: {escape(run.name)}</h1>")
        summary = table(["", ""], summary_rows, table_id="summary-table")
        sections.append('<section id="summary"><h2>Summary</h2>' + summary + "</section>")

        # ---- objective by trial -------------------------------------------------------------------------
        say("plotting the objective by trial")
        written.append(plots.history_plot(trials, names[0], modes[0], tmp / "history.png", full_fidelity=full))
        sections.append(
            '<section id="history"><h2>Objective by trial</h2>'
            f'<img src="{escape(rel)}/history.png" alt="{escape(names[0])} by trial">'
            '<p class="note">Complete trials are scored on the full dev subset; pruned trials were stopped early by ASHA '
            "and their score is on a smaller subset (not comparable); failed trials have no score.</p></section>"
        )

        # ---- per-layer heatmap of the best ----------------------------------------------------------------
        if best is not None:
            say(f"resolving the per-layer parameters of trial {best.number}")
            from lors_search.report.layerwise import TOP_K, compare_layers, layerwise_plot, layerwise_table

            layers, experts, method = _layers_of(best, device)
            layer_rows = compare_layers(run, best, TOP_K)
            written.append(layerwise_plot(layer_rows, tmp / "best_layers.png", k=TOP_K,
                                          title=f"trial {best.number} ({method}) vs the paper's defaults"))
            sections.append(
                f'<section id="best"><h2>Best configuration (trial {best.number}, {escape(method)}) layer by layer</h2>'
                f'<img src="{escape(rel)}/best_layers.png" alt="per-layer parameters of trial {best.number}">'
                '<p class="note">Per layer group: the best trial (dot), the paper\'s defaults (cross: rank 1 % of the '
                "smaller side, density 0.2, scale 1/N) and the range of the "
                f"{TOP_K} best complete trials (bar), so the page shows where the search moved away from the defaults "
                "and where the good trials agree. Values resolved per tensor with the merge plan on the base's "
                "shapes, averaged over each module's matrices and experts.</p>"
                + layerwise_table(layer_rows, TOP_K)
                + "<h3>Every value of the best</h3>"
                + layer_table(layers, experts)
                + "</section>"
            )

        # ---- Pareto front ---------------------------------------------------------------------------------
        pareto = False
        if len(names) > 1:
            say("reading the Pareto front from the Optuna study")
            points, front = plots.study_pareto(run.load_study())
            written.append(plots.pareto_plot(points, front, names, modes, tmp / "pareto.png"))
            pareto = True
            rows = [[str(number), *(_number(v) for v in values)] for number, values in sorted(front)]
            sections.append(
                '<section id="pareto"><h2>Pareto front</h2>'
                f'<img src="{escape(rel)}/pareto.png" alt="Pareto front">'
                + table(["trial", *names], rows, table_id="pareto-front")
                + '<p class="note">From the Optuna study (<code>study.best_trials</code>); export any of these trials with '
                "<code>--trial N</code>.</p></section>"
            )

        # ---- comparison -----------------------------------------------------------------------------------
        selection = run.selection
        columns = []
        candidates: list[Any] = []
        if compare and best is not None:
            from lors_search.report.compare import compare_models

            if selection is not None and test:
                numbers = [int(c["trial"]) for c in selection["candidates"]]
                candidates = [run.trials[n] for n in numbers if n in run.trials]
            columns = compare_models(run, best, test=test, device=device, progress=say, bar=bar, candidates=candidates,
                                     decode_candidates=test_candidates)
            candidates = [column for column in columns if column.kind == "candidate"]
            columns = [column for column in columns if column.kind != "candidate"]
            asr_metric = getattr(getattr(space, "objective", None), "asr_error", "wer")
            headline = _headline_section(columns, data_split(space), asr_metric, test, say)
            if headline:
                sections.insert(2, headline)  # right after the title and the summary
            n = best.n_per_language
            subset = "all clips" if n is None else f"the first {n} clips per language (the search's full fidelity)"
            sections.append(
                '<section id="dev"><h2>Dev comparison</h2>'
                f'<p class="note">Dev split, {escape(subset)}: the data the search selected on. Experts are scored on '
                "their own language only.</p>"
                "<h3>Speech recognition</h3>"
                + comparison_table(columns, "dev", "transcribe", asr_metric, table_id="dev-asr")
                + "<h3>Speech translation into English</h3>"
                + comparison_table(columns, "dev", "translate", "bleu", table_id="dev-st")
                + "</section>"
            )
            if test:
                sections.append(
                    '<section id="test" class="final-check"><h2>Test split: final check, never used for selection</h2>'
                    "<p>These numbers were computed for this report only. No trial, seed or export decision read the "
                    "test split; do not tune on them.</p>"
                    "<h3>Speech recognition</h3>"
                    + comparison_table(columns, "test", "transcribe", asr_metric, table_id="test-asr")
                    + "<h3>Speech translation into English</h3>"
                    + comparison_table(columns, "test", "translate", "bleu", table_id="test-st")
                    + "</section>"
                )
            (tmp / "comparison.json").write_text(
                json.dumps([column.to_dict() for column in columns], indent=2, default=str) + "\n", encoding="utf-8"
            )
        elif best is None:
            sections.append('<section id="dev"><h2>Dev comparison</h2><p>No complete full-fidelity trial yet.</p></section>')
        if selection is not None:  # after the headline: how the winner was chosen
            at = 3 if len(sections) > 2 and sections[2].startswith('<section id="headline"') else 2
            sections.insert(at, _selection_section(selection, space, columns if test else [], candidates, tmp, say))

        # ---- every trial ----------------------------------------------------------------------------------
        rows = []
        for trial in trials:
            objective_cells = [_number(trial.objectives.get(name)) for name in names]
            seconds = trial.merge_seconds, trial.eval_seconds
            rows.append(
                [str(trial.number), trial.state, *objective_cells,
                 "-" if trial.n_per_language is None else str(trial.n_per_language),
                 *(_number(s, 3) for s in seconds)]
            )
        sections.append(
            '<section id="trials"><h2>Trials</h2>'
            + table(["trial", "state", *names, "clips/language", "merge s", "eval s"], rows, table_id="trials-table")
            + "</section>"
        )

        # ---- optuna-dashboard -----------------------------------------------------------------------------
        sections.append(
            '<section id="dashboard"><h2>Explore the study in optuna-dashboard</h2>'
            "<p>The Optuna study is an ordinary SQLite RDB storage; optuna-dashboard (an optional extra) shows its "
            "history, parameter importances, slices and Pareto front:</p>"
            f"<pre>.venv/bin/pip install optuna-dashboard   # or: pip install -e '.[dashboard]'\n"
            f"{escape(dashboard_command(run))}</pre>"
            "<p>It serves on http://127.0.0.1:8080 by default (loopback only; use an SSH tunnel from elsewhere).</p>"
            "</section>"
        )
        for path in tmp.iterdir():
            os.chmod(path, 0o644)
        os.chmod(tmp, 0o755)
    title = f"lors-search report: {run.name}"
    atomic_write_text(html_path, page(title, sections))
    os.chmod(html_path, 0o644)
    return ReportResult(
        html=html_path,
        files=target_files,
        plots=[target_files / p.name for p in written],
        best=best,
        pareto=pareto,
        test=test,
    )

