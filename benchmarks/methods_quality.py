"""Issue 10's acceptance table on a built demo: base, experts, multi-task, task arithmetic 1/N, paper-default
LoRS, every method at its paper's defaults, and -- from a `demo-methods.yaml` run -- each method's best trial
(that method searched within the joint search, chosen on the search part) and the selection's winner, on dev
and test with paired-bootstrap 95 % intervals (`lors_search.evaluation.bootstrap`) of GR (mean of ASR CER and
ST BLEU gain retained) and NP, and of each model's gap to task arithmetic 1/N and to paper-default LoRS. A gap
counts as a win only when it exceeds twice its bootstrap standard error; otherwise it is a tie. Test is never
used for any choice here: every searched configuration was chosen on dev.

    python benchmarks/methods_quality.py DEMO_DIR [--run RUNS/RUN] [--alone RUNS/RUN-M ...] [--rounds 1000]
        [--json out.json] [--cache DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch

from lors_search.evaluation.bootstrap import bootstrap_scores, gap_interval
from lors_search.evaluation.evalset import load_eval_set
from lors_search.evaluation.evaluator import Evaluator, Hypothesis
from lors_search.evaluation.model_dir import load_model_dir
from lors_search.merging import MergeParams, PreparedMerger, describe_state, prepare_expert, resolve_plan

PAPER_DEFAULTS = {
    "task_arithmetic 1/N": MergeParams(method="task_arithmetic"),
    "lors (paper)": MergeParams(method="lors", params={"rank_ratio": 0.01, "density": 0.2}),
    "ties (paper)": MergeParams(method="ties"),
    "dare (paper)": MergeParams(method="dare"),
    "iso_c (paper)": MergeParams(method="iso_c"),
    "iso_cts (paper)": MergeParams(method="iso_cts"),
    "tsv_m (paper)": MergeParams(method="tsv_m"),
    "regmean (paper)": MergeParams(method="regmean"),
}
TA, LORS = "task_arithmetic 1/N", "lors (paper)"


def log(message: str) -> None:
    print(f"[methods] {message}", file=sys.stderr, flush=True)


def run_models(run: Path, alone: bool = False) -> dict[str, MergeParams]:
    """The selection's winner and, per method, its best trial by search score, from a demo-methods run; of a
    run that searched one method alone (`search --methods M`), its selection's winner only."""
    from lors_search.rundir import SearchRun

    search = SearchRun(run)
    trials = [t for t in search.trials.values() if search.is_full_fidelity(t) and t.objective is not None]
    out: dict[str, MergeParams] = {}
    selection = search.selection
    if selection is not None:
        winner = search.trials[int(selection["winner"])]
        params = winner.merge_config().merge_params()
        alone_label = f"{params.method} searched alone ({run.name}), winner #{winner.number}"
        out[alone_label if alone else f"winner #{winner.number} ({params.method})"] = params
    if alone:
        return out
    for method in sorted({str(t.params.get("method")) for t in trials}):
        best = max((t for t in trials if t.params.get("method") == method), key=lambda t: (float(t.objective), -t.number))
        out[f"{method} searched #{best.number}"] = best.merge_config().merge_params()
    return out


class Bench:
    """The demo's base, prepared experts (factors up to full rank) and one resident model to merge into."""

    def __init__(self, demo: Path, batch_size: int) -> None:
        self.demo = demo
        self.languages: list[str] = json.loads((demo / "build.json").read_text())["languages"]
        base, self.tokenizer = load_model_dir(demo / "base")
        self.base_state = {name: tensor.clone() for name, tensor in base.state_dict().items()}
        self.model, _ = load_model_dir(demo / "base")
        self.target = self.model.state_dict()
        self.infos = describe_state(self.base_state)
        self.batch_size = batch_size
        from lors_search.checkpoints import load_checkpoint
        from lors_search.whisper.gram import GramSource, merge_grams

        experts = []
        for language in self.languages:
            model, _ = load_model_dir(demo / "experts" / language)
            # RegMean's Grams: 64 train clips of the expert's own subset, as the search's expert actors take them.
            source = GramSource(str(demo / "data"), language, subset="expert", cache_dir=str(demo / "data" / "grams"))
            grams, _ = merge_grams(load_checkpoint(str(demo / "experts" / language)), source)
            experts.append(
                prepare_expert(self.base_state, model.state_dict(), max_rank=10_000, name=language, grams=grams)
            )
        self.merger = PreparedMerger(self.base_state, experts)

    def decode(self, model: Any, split: str, languages: list[str] | None = None) -> tuple[Hypothesis, ...]:
        eval_set = load_eval_set(self.demo / "data", split, languages=languages, allow_test=True)
        return Evaluator(model, self.tokenizer, eval_set, batch_size=self.batch_size).evaluate().hypotheses

    def merged(self, params: MergeParams, split: str) -> tuple[Hypothesis, ...]:
        plan = resolve_plan(params, self.infos, self.languages)
        self.merger.merge_into(self.target, params.method, plan)
        return self.decode(self.model, split)


def cached(cache: Path | None, key: str, make: Any) -> tuple[Any, ...]:
    """Decoded rows of `key` from the cache directory (JSON), or made and stored there."""
    from lors_search.evaluation.bootstrap import rows_from_dicts

    path = None if cache is None else cache / (key.replace("/", "_").replace(" ", "_") + ".json")
    if path is not None and path.is_file():
        return rows_from_dicts(json.loads(path.read_text(encoding="utf-8")))
    rows = make()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fields = ("id", "language", "task", "reference", "hypothesis")
        path.write_text(json.dumps([{f: getattr(row, f) for f in fields} for row in rows]), encoding="utf-8")
    return rows


def unmerged(
    bench: Bench, split: str, cache: Path | None, name: str, languages: list[str] | None = None
) -> tuple[Hypothesis, ...]:
    """Decoded rows of the demo's unmerged model `name` (base, experts/<lang>, multitask), cached."""

    def decode() -> tuple[Hypothesis, ...]:
        model, _ = load_model_dir(bench.demo / name)
        return bench.decode(model, split, languages)

    return cached(cache, f"{split}-{name.replace('experts/', 'expert-')}", decode)


def reference_rows(bench: Bench, split: str, cache: Path | None) -> tuple[tuple[Hypothesis, ...], list[Hypothesis]]:
    """The base's rows and every expert's rows on its own language."""
    experts: list[Hypothesis] = []
    for language in bench.languages:
        experts.extend(unmerged(bench, split, cache, f"experts/{language}", [language]))
    return unmerged(bench, split, cache, "base"), experts


def table(
    bench: Bench, models: dict[str, MergeParams], split: str, rounds: int, cache: Path | None = None
) -> list[dict[str, Any]]:
    base, experts = reference_rows(bench, split, cache)
    rows = {"base": base, "multitask": unmerged(bench, split, cache, "multitask")}
    for name, params in models.items():
        started = time.perf_counter()
        # The key holds the parameters, so a cached row is never another configuration's.
        key = f"{split}-{params.method}-{hashlib.sha256(params.model_dump_json().encode()).hexdigest()[:16]}"
        rows[name] = cached(cache, key, partial(bench.merged, params, split))
        log(f"{split}: {name} in {time.perf_counter() - started:.1f} s")
    result = bootstrap_scores(rows, base, experts, rounds=rounds, seed=0, asr_error="cer")
    out = []
    for name in rows:
        entry: dict[str, Any] = {"model": name}
        for metric, scope in (("gr", "overall"), ("gr", "transcribe"), ("gr", "translate"), ("np", "overall")):
            entry[f"{metric}:{scope}"] = result.interval(name, metric, scope).to_dict()
        for reference in (TA, LORS):
            if name != reference and reference in rows:
                entry[f"gap:{reference}"] = gap_interval(result, name, reference, "gr", "overall").to_dict()
        own = f"{models[name].method} (paper)" if name in models else None
        if own is not None and own != name and own in rows:
            # What searching bought over the same method at its paper's defaults.
            entry["gap:own"] = gap_interval(result, name, own, "gr", "overall").to_dict()
        out.append(entry)
    return out


def verdict(gap: dict[str, Any]) -> str:
    mean, std = gap["estimate"], gap["std"]
    if mean is None or std is None:
        return "n/a"
    word = "win" if mean > 2 * std else "loss" if mean < -2 * std else "tie"
    return f"{mean:+.3f} [{gap['low']:+.3f}, {gap['high']:+.3f}] {word}"


def markdown(rows: list[dict[str, Any]], split: str) -> str:
    def fmt(value: dict[str, Any]) -> str:
        return f"{value['estimate']:.3f} [{value['low']:.3f}, {value['high']:.3f}]" if value["estimate"] is not None else "n/a"

    lines = [
        (f"**{split}** (GR = mean of ASR CER and ST BLEU gain retained; 95 % paired-bootstrap intervals; "
         "a gap is a win or loss only beyond 2 bootstrap SE)"),
        "",
        "| model | GR | ASR GR | ST GR | NP | gap to TA 1/N | gap to LoRS (paper) | gap to its method's defaults |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        gaps = [verdict(row[f"gap:{ref}"]) if f"gap:{ref}" in row else "—" for ref in (TA, LORS, "own")]
        lines.append(
            f"| {row['model']} | {fmt(row['gr:overall'])} | {fmt(row['gr:transcribe'])} | {fmt(row['gr:translate'])} "
            f"| {fmt(row['np:overall'])} | {gaps[0]} | {gaps[1]} | {gaps[2]} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("demo", type=Path)
    parser.add_argument("--run", type=Path, help="a demo-methods.yaml run directory (winner and per-method bests)")
    parser.add_argument(
        "--alone", type=Path, action="append", default=[],
        help="a run that searched one method alone (`search --methods M`; its selection winner); repeatable",
    )
    parser.add_argument("--splits", default="dev,test")
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--cache", type=Path, help="directory keeping decoded hypotheses between invocations")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bench = Bench(args.demo, args.batch_size)
    models = dict(PAPER_DEFAULTS)
    if args.run is not None:
        models.update(run_models(args.run))
    for run in args.alone:
        models.update(run_models(run, alone=True))
    document: dict[str, Any] = {}
    for split in args.splits.split(","):
        document[split] = table(bench, models, split, args.rounds, args.cache)
        print(markdown(document[split], split) + "\n", flush=True)
    if args.json:
        args.json.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
