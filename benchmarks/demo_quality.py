"""Merge quality on a built demo: does the benchmark sit in the regime issue 3 asks for?

On DIR (a `lors-search demo build` output) measures, on dev and test: the base, each expert on its own
language, the multitask model, task arithmetic at 1/N, LoRS at the paper's defaults (rank 1 % of d_model,
at least 1; density 0.2; scale 1/N) and N seeded random per-layer LoRS configurations (per encoder/decoder
layer: rank, density, scale; the non-layer tensors get their own scale), the best chosen on dev by the mean
of the ASR and ST gain retained. Merges go through `PreparedMerger.merge_into` on one resident model and
`Evaluator` (no Ray). Noise: (1) paired bootstrap over test clips (`lors_search.evaluation.bootstrap`:
resampled per language, the same resample for every model) of the (best - TA) gap; (2) with --second-seed,
the experts retrained from the same base with another seed, the TA and chosen-config merges re-measured with
them (seed-to-seed spread of the gap).

    python benchmarks/demo_quality.py DIR [--samples 25] [--second-seed] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

import torch

from lors_search.evaluation.bootstrap import bootstrap_scores, gap_interval
from lors_search.evaluation.evalset import load_eval_set
from lors_search.evaluation.evaluator import Evaluator, Hypothesis
from lors_search.evaluation.model_dir import load_model_dir
from lors_search.evaluation.scores import gain_retained, normalized_performance
from lors_search.merging import MergeParams, PreparedMerger, describe_state, prepare_expert, resolve_plan

ASR_ERROR = "cer"


def log(message: str) -> None:
    print(f"[quality] {message}", file=sys.stderr, flush=True)


class Bench:
    def __init__(self, demo: Path, experts_root: Path, batch_size: int, max_rank: int) -> None:
        self.demo = demo
        build = json.loads((demo / "build.json").read_text())
        self.langs: list[str] = build["languages"]
        self.base_model, self.tok = load_model_dir(demo / "base")
        self.base_state = {k: v.clone() for k, v in self.base_model.state_dict().items()}
        self.work_model, _ = load_model_dir(demo / "base")
        self.target = self.work_model.state_dict()
        self.infos = describe_state(self.base_state)
        self.sets = {split: load_eval_set(demo / "data", split, allow_test=True) for split in ("dev", "test")}
        self.batch_size = batch_size
        self.max_rank = max_rank
        self.experts_root = experts_root
        self.prepare(experts_root)

    def prepare(self, experts_root: Path) -> None:
        start = time.perf_counter()
        prepared = []
        for lang in self.langs:
            model, _ = load_model_dir(experts_root / lang)
            prepared.append(prepare_expert(self.base_state, model.state_dict(), max_rank=self.max_rank, name=lang))
        self.merger = PreparedMerger(self.base_state, prepared)
        self.experts_root = experts_root
        log(f"prepared {len(prepared)} experts from {experts_root} in {time.perf_counter() - start:.1f} s")

    def evaluate(self, model, split: str, langs: list[str] | None = None) -> dict:
        eval_set = self.sets[split]
        if langs is not None:
            eval_set = load_eval_set(self.demo / "data", split, languages=langs, allow_test=True)
        result = Evaluator(model, self.tok, eval_set, batch_size=self.batch_size).evaluate()
        return {"cells": result.cells, "hyps": [(h.id, h.language, h.task, h.reference, h.hypothesis)
                                                for h in result.hypotheses]}

    def merged(self, params: MergeParams, splits=("dev", "test")) -> dict:
        plan = resolve_plan(params, self.infos, self.langs)
        self.merger.merge_into(self.target, params.method, plan)
        return {split: self.evaluate(self.work_model, split) for split in splits}


def summarise(cells, base, experts) -> dict:
    gr = gain_retained(cells, base, experts, asr_error=ASR_ERROR).tasks
    np_ = normalized_performance(cells, experts, asr_error=ASR_ERROR)
    asr, st = gr["transcribe"].mean, gr["translate"].mean
    return {
        "asr_gr": asr, "st_gr": st, "gr": (asr + st) / 2 if asr is not None and st is not None else None,
        "np": np_.mean,
        "avg_cer": statistics.fmean(v["cer"] for k, v in cells.items() if k.endswith("/transcribe")),
        "avg_bleu": statistics.fmean(v["bleu"] for k, v in cells.items() if k.endswith("/translate")),
    }


def random_config(rng: random.Random, n: int, layers: dict[str, int], space: str = "A") -> dict:
    """One per-layer LoRS configuration, per (stack, layer) group: rank log-uniform 1..32 and
    space A: density U(0.05, 0.6), scale U(0.1, 0.5), non-layer tensors' scale U(0.1, 0.5);
    space B: density U(0.1, 1.0) (1.0 = no sparsification), scale log-uniform (0.1, 0.4), likewise outside."""
    def scale() -> float:
        return round(rng.uniform(0.1, 0.5) if space == "A" else math.exp(rng.uniform(math.log(0.1), math.log(0.4))), 3)

    groups = []
    for stack, count in layers.items():
        for layer in range(count):
            groups.append({"stack": stack, "layer": layer,
                           "rank": round(math.exp(rng.uniform(0, math.log(32)))),
                           "density": round(rng.uniform(0.05, 0.6) if space == "A" else rng.uniform(0.1, 1.0), 3),
                           "scale": scale()})
    config = {"scale": scale(), "groups": groups}
    if space == "C":  # space B plus a per-expert multiplier of every scale, log-uniform (0.5, 2)
        config["expert_scale"] = [round(math.exp(rng.uniform(math.log(0.5), math.log(2.0))), 3) for _ in range(n)]
    return config


def config_params(config: dict, experts: list[str] | None = None) -> MergeParams:
    overrides = [
        {"select": {"stack": g["stack"], "layers": g["layer"]},
         "set": {"rank": g["rank"], "density": g["density"], "scale": g["scale"]}}
        for g in config["groups"]
    ]
    if "expert_scale" in config:
        factors = dict(zip(experts, config["expert_scale"], strict=True))
        overrides = (
            [{"select": {"expert": e}, "set": {"scale": round(config["scale"] * f, 4)}} for e, f in factors.items()]
            + overrides
            + [{"select": {"stack": g["stack"], "layers": g["layer"], "expert": e},
                "set": {"scale": round(g["scale"] * f, 4)}} for g in config["groups"] for e, f in factors.items()]
        )
    return MergeParams.model_validate(
        {"method": "lors", "params": {"rank": 1, "density": 0.2, "scale": config["scale"]}, "overrides": overrides}
    )


def bootstrap_gap(a_hyps, b_hyps, base_hyps, expert_hyps, rounds: int, seed: int) -> dict:
    """Paired bootstrap over test clips (`lors_search.evaluation.bootstrap`) of objective(a) - objective(b),
    objective = mean of ASR (CER) and ST gain retained."""
    def rows(hyps):
        return tuple(Hypothesis(*h) for h in hyps)

    result = bootstrap_scores({"a": rows(a_hyps), "b": rows(b_hyps)}, rows(base_hyps), rows(expert_hyps),
                              rounds=rounds, seed=seed, asr_error=ASR_ERROR)
    gap = gap_interval(result, "a", "b", "gr", "overall")
    diff = result.samples["a"]["gr"]["overall"] - result.samples["b"]["gr"]["overall"]
    return {"rounds": rounds, "mean": gap.mean, "std": gap.std, "p2.5": gap.low, "p97.5": gap.high,
            "share_positive": float((diff > 0).mean())}


def train_second_seed(demo: Path, langs: list[str], offset: int) -> Path:
    """Experts retrained from the same base with seed + offset (reused when present)."""
    from lors_search.demo.build import _run_jobs, train_stage
    from lors_search.demo.recipe import DemoRecipe

    build = json.loads((demo / "build.json").read_text())
    recipe = DemoRecipe.model_validate(build["recipe"])
    root = demo / f"seed{offset}" / "experts"
    jobs = []
    for lang in langs:
        config = recipe.expert_config(lang)
        config = config.model_copy(update={"seed": config.seed + offset})
        digest = recipe.digest("expert-reseed", build["stages"]["base"], lang, config.model_dump())
        path = root / lang
        if path.exists() and json.loads((path / "demo_stage.json").read_text())["hash"] == digest:
            continue
        jobs.append((f"expert {lang} (seed +{offset})", train_stage,
                     ("expert", str(path), str(demo / "data"), str(demo / "tokenizer"), build["recipe"], [lang],
                      config.model_dump(mode="json"), digest, 1, False)))
    if jobs:
        root.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        _run_jobs(jobs, 2, True)
        log(f"second-seed experts trained in {time.perf_counter() - start:.0f} s")
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("demo", type=Path)
    parser.add_argument("--samples", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0, help="seed of the random configurations")
    parser.add_argument("--max-rank", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--bootstrap", type=int, default=300)
    parser.add_argument("--second-seed", action="store_true", help="retrain the experts with seed +1000")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--space", choices=("A", "B", "C"), default="A", help="random configuration space (see random_config)")
    parser.add_argument("--ta-grid", action="store_true", help="also task arithmetic with lambda_enc x lambda_dec on dev")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    bench = Bench(args.demo, args.demo / "experts", args.batch_size, args.max_rank)
    langs, n = bench.langs, len(bench.langs)
    results: dict[str, dict] = {}

    log("scoring base, experts, multitask")
    base = {s: bench.evaluate(bench.base_model, s) for s in ("dev", "test")}
    experts = {"dev": {"cells": {}, "hyps": []}, "test": {"cells": {}, "hyps": []}}
    for lang in langs:
        model, _ = load_model_dir(args.demo / "experts" / lang)
        for s in ("dev", "test"):
            r = bench.evaluate(model, s, [lang])
            experts[s]["cells"].update(r["cells"])
            experts[s]["hyps"].extend(r["hyps"])
    multitask_model, _ = load_model_dir(args.demo / "multitask")
    results["base"] = base
    results["expert"] = experts
    results["multitask"] = {s: bench.evaluate(multitask_model, s) for s in ("dev", "test")}

    d_model = bench.base_model.config.d_model
    fixed = {
        "ta_1/N": MergeParams.model_validate({"method": "task_arithmetic", "params": {"scale": 1 / n}}),
        "lors_defaults": MergeParams.model_validate(
            {"method": "lors", "params": {"rank": max(1, round(0.01 * d_model)), "density": 0.2, "scale": 1 / n}}
        ),
    }
    for name, params in fixed.items():
        t0 = time.perf_counter()
        results[name] = bench.merged(params)
        log(f"{name}: {time.perf_counter() - t0:.1f} s")

    if args.ta_grid:
        grid = {}
        for enc in (0.1, 0.2, 0.3, 0.4):
            for dec in (0.1, 0.2, 0.3, 0.4):
                params = MergeParams.model_validate({"method": "task_arithmetic", "params": {"scale": dec},
                                                     "overrides": [{"select": {"stack": "encoder"}, "set": {"scale": enc}}]})
                dev = bench.merged(params, splits=("dev",))["dev"]
                grid[f"{enc}/{dec}"] = summarise(dev["cells"], base["dev"]["cells"], experts["dev"]["cells"])
                log(f"TA enc {enc} dec {dec}: dev GR {grid[f'{enc}/{dec}']['gr']:.3f} "
                    f"(ASR {grid[f'{enc}/{dec}']['asr_gr']:.3f}, ST {grid[f'{enc}/{dec}']['st_gr']:.3f})")
        results_grid = grid
    else:
        results_grid = None
    layers = {"encoder": bench.base_model.config.encoder_layers, "decoder": bench.base_model.config.decoder_layers}
    rng = random.Random(args.seed)
    search = []
    t0 = time.perf_counter()
    for index in range(args.samples):
        config = random_config(rng, n, layers, args.space)
        dev = bench.merged(config_params(config, langs), splits=("dev",))["dev"]
        score = summarise(dev["cells"], base["dev"]["cells"], experts["dev"]["cells"])
        search.append({"index": index, "config": config, "dev": score})
        log(f"random #{index}: dev GR {score['gr']:.3f} (ASR {score['asr_gr']:.2f}, ST {score['st_gr']:.2f})")
    search_seconds = time.perf_counter() - t0
    best = max(search, key=lambda item: item["dev"]["gr"])
    results["search_best"] = bench.merged(config_params(best["config"], langs))

    table = {
        name: {s: {"summary": summarise(r[s]["cells"], base[s]["cells"], experts[s]["cells"]),
                   "cells": r[s]["cells"]} for s in ("dev", "test")}
        for name, r in results.items()
    }
    gap = table["search_best"]["test"]["summary"]["gr"] - table["ta_1/N"]["test"]["summary"]["gr"]
    noise = {"bootstrap_test_gap": bootstrap_gap(results["search_best"]["test"]["hyps"], results["ta_1/N"]["test"]["hyps"],
                                                 base["test"]["hyps"], experts["test"]["hyps"], args.bootstrap, 0)}
    if args.second_seed:
        root = train_second_seed(args.demo, langs, 1000)
        bench.prepare(root)
        reseed_experts = {"dev": {"cells": {}}, "test": {"cells": {}}}
        for lang in langs:
            model, _ = load_model_dir(root / lang)
            for s in ("dev", "test"):
                reseed_experts[s]["cells"].update(bench.evaluate(model, s, [lang])["cells"])
        seed2 = {name: bench.merged(params) for name, params in
                 (("ta_1/N", fixed["ta_1/N"]), ("search_best", config_params(best["config"], langs)),
                  ("lors_defaults", fixed["lors_defaults"]))}
        seed2_table = {
            name: {s: summarise(r[s]["cells"], base[s]["cells"], reseed_experts[s]["cells"]) for s in ("dev", "test")}
            for name, r in seed2.items()
        }
        seed2_table["expert"] = {s: summarise(reseed_experts[s]["cells"], base[s]["cells"], experts[s]["cells"])
                                 for s in ("dev", "test")}
        gap2 = seed2_table["search_best"]["test"]["gr"] - seed2_table["ta_1/N"]["test"]["gr"]
        noise["second_seed"] = {"table": seed2_table, "test_gap_seed1": gap, "test_gap_seed2": gap2,
                                "gap_difference": abs(gap - gap2),
                                "ta_test_gr_difference": abs(seed2_table["ta_1/N"]["test"]["gr"]
                                                             - table["ta_1/N"]["test"]["summary"]["gr"])}
    report = {"demo": str(args.demo), "languages": langs, "table": table, "search": search, "best_index": best["index"],
              "test_gap_best_minus_ta": gap, "noise": noise, "search_seconds": search_seconds,
              "total_seconds": time.perf_counter() - start, "threads": args.threads, "space": args.space,
              "ta_grid_dev": results_grid, "samples": args.samples}
    print(markdown(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=float) + "\n")
    return 0


def markdown(report: dict) -> str:
    langs = report["languages"]
    out = []
    for split in ("dev", "test"):
        out.append(f"\n**{split}** (ASR CER / ST BLEU per language; GR = gain retained, CER-based ASR; NP over 2N cells)\n")
        out.append("| model | " + " | ".join(langs) + " | avg CER | avg BLEU | ASR GR | ST GR | GR | NP |")
        out.append("|---" * (len(langs) + 7) + "|")
        for name, entry in report["table"].items():
            cells, s = entry[split]["cells"], entry[split]["summary"]
            per = " | ".join(f"{cells[f'{lang}/transcribe']['cer']:.3f} / {cells[f'{lang}/translate']['bleu']:.1f}"
                             for lang in langs)
            fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
            out.append(f"| {name} | {per} | {s['avg_cer']:.3f} | {s['avg_bleu']:.1f} | {fmt(s['asr_gr'])} | "
                       f"{fmt(s['st_gr'])} | {fmt(s['gr'])} | {fmt(s['np'])} |")
    best = report["search"][report["best_index"]]
    out.append(f"\nsearch best = random #{best['index']}: {json.dumps(best['config'])}")
    out.append(f"test GR gap best - TA 1/N: {report['test_gap_best_minus_ta']:+.3f}")
    boot = report["noise"]["bootstrap_test_gap"]
    out.append(f"bootstrap over test clips ({boot['rounds']} rounds): gap mean {boot['mean']:+.3f}, std {boot['std']:.3f}, "
               f"95% [{boot['p2.5']:+.3f}, {boot['p97.5']:+.3f}], share > 0: {boot['share_positive']:.2f}")
    if "second_seed" in report["noise"]:
        s2 = report["noise"]["second_seed"]
        out.append(f"second expert seed: gap seed1 {s2['test_gap_seed1']:+.3f}, seed2 {s2['test_gap_seed2']:+.3f}; "
                   f"|TA GR seed1 - seed2| {s2['ta_test_gr_difference']:.3f}")
        for name, row in s2["table"].items():
            out.append(f"  seed2 {name}: test GR {row['test']['gr']:.3f} (ASR {row['test']['asr_gr']:.3f}, "
                       f"ST {row['test']['st_gr']:.3f}), dev GR {row['dev']['gr']:.3f}")
    ranked = sorted(report["search"], key=lambda item: -item["dev"]["gr"])
    out.append("\nrandom configs by dev GR: " + ", ".join(f"#{r['index']} {r['dev']['gr']:.3f}" for r in ranked))
    out.append(f"search {report['search_seconds']:.0f} s, total {report['total_seconds']:.0f} s")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
