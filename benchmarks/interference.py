"""Where the experts' gain goes when they are merged (issue 10: why no merge reaches GR 0.65 on the demo).

Two measurements on a built demo, each language scored on its own dev (or test) clips only, GR = mean of ASR
(CER) and ST (BLEU) gain retained against that language's expert, with paired-bootstrap 95 % intervals:

- **alone, scaled**: each expert's own task vector at scale s on the base, no other expert present. Task
  arithmetic 1/N gives each expert s = 1/N; what this keeps is what scaling alone costs, with no interference.
- **merged with k experts**: task arithmetic 1/k and TSV-M (paper defaults) of k experts (k = 2..N): language
  L is scored under the merge of L and the k-1 languages after it in the list (cyclically). The fall from
  "alone at 1/k" to "merged at 1/k" is interference; the fall from "alone at 1" to "alone at 1/k" is dilution.

    python benchmarks/interference.py DEMO_DIR [--split dev] [--scales 0.2,0.4,0.6,1.0] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from methods_quality import Bench, cached, reference_rows  # benchmarks/ is on sys.path when run as a script

from lors_search.evaluation.bootstrap import bootstrap_scores
from lors_search.evaluation.evaluator import Hypothesis
from lors_search.merging import MergeParams, PreparedMerger, resolve_plan


def log(message: str) -> None:
    print(f"[interference] {message}", file=sys.stderr, flush=True)


def merge_subset(
    bench: Bench, languages: Sequence[str], params: MergeParams, split: str, decode: str
) -> tuple[Hypothesis, ...]:
    """The `split` clips of language `decode` under a merge of the experts of `languages` only."""
    experts = [bench.merger.experts[bench.languages.index(language)] for language in languages]
    merger = PreparedMerger(bench.base_state, experts)
    merger.merge_into(bench.target, params.method, resolve_plan(params, bench.infos, list(languages)))
    return bench.decode(bench.model, split, [decode])


def window(languages: Sequence[str], start: str, k: int) -> tuple[str, ...]:
    """The k languages from `start` on, cyclically: each language is scored under k-1 different neighbours."""
    first = languages.index(start)
    return tuple(languages[(first + i) % len(languages)] for i in range(k))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("demo", type=Path)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--scales", default="0.2,0.4,0.6,1.0")
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--cache", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bench = Bench(args.demo, args.batch_size)
    split, languages = args.split, bench.languages
    # Each setting is one composite model: language L's clips come from the merge that setting makes for L.
    settings: dict[str, tuple[Hypothesis, ...]] = {}
    for scale in (float(s) for s in args.scales.split(",")):
        params = MergeParams(method="task_arithmetic", params={"scale": scale})
        settings[f"expert alone, scale {scale:g}"] = tuple(
            row for language in languages
            for row in cached(args.cache, f"{split}-alone-{language}-{scale}",
                              partial(merge_subset, bench, [language], params, split, language))
        )
        log(f"alone x {scale} done")
    for method, label in (("task_arithmetic", "task arithmetic 1/{k}"), ("tsv_m", "TSV-M (paper)")):
        params = MergeParams(method=method)  # task arithmetic at 1/k; TSV-M at its paper's defaults
        for k in range(2, len(languages) + 1):
            settings[f"{label.format(k=k)}, {k} experts"] = tuple(
                row for language in languages
                for row in cached(args.cache, f"{split}-merged-{method}-{'+'.join(window(languages, language, k))}-{language}",
                                  partial(merge_subset, bench, window(languages, language, k), params, split, language))
            )
            log(f"{method} k={k} done")
    base, experts = reference_rows(bench, split, args.cache)
    result = bootstrap_scores(settings, base, experts, rounds=args.rounds, seed=0, asr_error="cer")
    document = {
        name: {scope: result.interval(name, "gr", scope).to_dict() for scope in ("overall", "transcribe", "translate")}
        for name in settings
    }
    print(markdown(document, split))
    if args.json:
        args.json.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")


def markdown(document: dict[str, dict[str, Any]], split: str) -> str:
    def fmt(value: dict[str, Any]) -> str:
        return f"{value['estimate']:.3f} [{value['low']:.3f}, {value['high']:.3f}]"

    lines = [f"**{split}** (each language scored on its own clips; 95 % paired-bootstrap intervals)", "",
             "| setting | GR | ASR GR | ST GR |", "|---|---|---|---|"]
    for name, row in document.items():
        asr, st = row["transcribe"]["estimate"], row["translate"]["estimate"]
        lines.append(f"| {name} | {fmt(row['overall'])} | {asr:.3f} | {st:.3f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
