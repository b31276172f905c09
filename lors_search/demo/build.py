"""`build_demo`: the embedded benchmark on disk -- corpus, tokenizer, base, one expert per language and the
multitask model, each a standard Hugging Face Whisper directory -- then every model scored on dev.

Each stage is written atomically and carries the hash of the recipe parts it depends on
(`demo_stage.json`); a stage whose hash matches is reused, so a second build does no work. On a CPU the
experts, the multitask model and the evaluations run as separate processes with one torch thread each
(two at a time): on two cores that is faster than one process with two threads.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lors_search.demo.paths import default_demo_dir
from lors_search.demo.recipe import DemoRecipe, full_recipe, quick_recipe
from lors_search.errors import UserError
from lors_search.fsutil import atomic_output_dir, atomic_write_text

STAGE_FILE = "demo_stage.json"
BUILD_FILE = "build.json"
SCORES_FILE = "scores.json"
TOKENIZER_DIR = "tokenizer"


@dataclass
class DemoSummary:
    """What a build produced: where, the dev scores, seconds per stage and which stages were reused."""

    out: Path
    scores: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    built: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process and its workers: wall time on a shared machine says little
    load_average: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at start and end
    stage_cpu: dict[str, float] = field(default_factory=dict)

    @property
    def idle_machine_seconds(self) -> float:
        """Estimated wall time on an otherwise idle 2-core machine: CPU time of each stage, halved where
        two processes share the work (synthesis, fine-tuning, scoring)."""
        parallel = {"data", "finetune", "evaluate"}
        return sum(cpu / (2 if stage in parallel else 1) for stage, cpu in self.stage_cpu.items())


def _say(progress: bool, message: str) -> None:
    if progress:
        print(f"[demo] {message}", file=sys.stderr, flush=True)


def _stage_hash(path: Path) -> str | None:
    try:
        return json.loads((path / STAGE_FILE).read_text(encoding="utf-8"))["hash"]
    except (OSError, ValueError, KeyError):
        return None


def _reusable(path: Path, digest: str, force: bool) -> bool:
    """True when `path` holds this stage already; a stage built from another recipe is an error unless
    `force` (then it is rebuilt)."""
    if force or not path.exists():
        return False
    if _stage_hash(path) == digest:
        return True
    raise UserError(
        f"{path} was built from a different recipe or is incomplete; use --force to rebuild, or another --out"
    )


def stage_digests(recipe: DemoRecipe) -> dict[str, str]:
    """The hash of every stage of `recipe` (data, tokenizer, base, experts/<lang>, multitask, scores): each covers
    the recipe parts the stage depends on, its inputs' hashes included, so changing one rebuilds what follows."""
    digests = {"data": recipe.digest(recipe.corpus.model_dump(mode="json"))}
    digests["tokenizer"] = recipe.digest("tokenizer", digests["data"])
    digests["base"] = recipe.digest("base", digests["tokenizer"], recipe.shape.model_dump(), recipe.base.model_dump())
    for lang in recipe.languages:
        digests[f"experts/{lang}"] = recipe.digest("expert", digests["base"], lang, recipe.expert_config(lang).model_dump())
    digests["multitask"] = recipe.digest("multitask", digests["base"], list(recipe.languages),
                                         recipe.multitask.model_dump())
    models = {name: digest for name, digest in digests.items() if name == "base" or name.startswith("experts/")}
    models["multitask"] = digests["multitask"]
    digests["scores"] = recipe.digest("scores", models, recipe.eval_batch_size)
    return digests


def pending_work(out: str | os.PathLike[str], recipe: DemoRecipe) -> dict[str, float]:
    """What a build of `recipe` in `out` would do, read from the stage files without building: per build.json
    stage (data, tokenizer, base, finetune, evaluate), the share of its work still to do (0 = reused, 1 = all;
    finetune: the pending models' training steps over all of them). A stage from another recipe counts as to do
    (the build itself refuses it)."""
    from lors_search.speech.corpus import read_corpus_spec

    root = Path(out).expanduser()
    digests = stage_digests(recipe)
    try:
        data_done = read_corpus_spec(root / "data") == recipe.corpus
    except (UserError, OSError, ValueError):
        data_done = False
    steps = {f"experts/{lang}": recipe.expert_config(lang).steps for lang in recipe.languages}
    steps["multitask"] = recipe.multitask.steps
    todo_steps = sum(n for name, n in steps.items() if _stage_hash(root / name) != digests[name])
    scores = _read_scores(root / SCORES_FILE, digests["scores"], False)
    return {
        "data": 0.0 if data_done else 1.0,
        "tokenizer": 0.0 if _stage_hash(root / TOKENIZER_DIR) == digests["tokenizer"] else 1.0,
        "base": 0.0 if _stage_hash(root / "base") == digests["base"] else 1.0,
        "finetune": todo_steps / max(1, sum(steps.values())),
        "evaluate": 0.0 if scores is not None else 1.0,
    }


def _write_stage(path: Path, digest: str, **info: Any) -> None:
    (path / STAGE_FILE).write_text(json.dumps({"hash": digest, **info}, indent=2) + "\n", encoding="utf-8")


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# ----------------------------------------------------------------------------------------------- training


def _clips(data_dir: Path, tag: str, languages: Sequence[str]) -> Any:
    import datasets
    import numpy as np

    from lors_search.speech.features import load_features
    from lors_search.training.trainer import Clips

    train = datasets.load_from_disk(str(data_dir))["train"].select_columns(
        ["subset", "language", "transcript", "translation"]
    ).to_dict()
    pairs = zip(train["subset"], train["language"], strict=True)
    keep = [i for i, (s, lang) in enumerate(pairs) if s == tag and lang in languages]
    if not keep:
        raise UserError(f"the corpus in {data_dir} has no {tag} training clips for {', '.join(languages)}")
    features = load_features(data_dir, "train")
    return Clips(
        features=np.ascontiguousarray(features[np.asarray(keep)]),
        languages=[train["language"][i] for i in keep],
        transcripts=[train["transcript"][i] for i in keep],
        translations=[train["translation"][i] for i in keep],
    )


def _save_model(model: Any, tokenizer: Any, window_seconds: int, out: Path) -> None:
    from lors_search.whisper.model import build_processor

    model.generation_config._from_model_config = False  # keep lang_to_id / task_to_id on save
    model.save_pretrained(out)
    build_processor(tokenizer, window_seconds).save_pretrained(out)


def train_stage(
    kind: str,
    out_dir: str,
    data_dir: str,
    tokenizer_dir: str,
    recipe_json: dict[str, Any],
    languages: Sequence[str],
    config_json: dict[str, Any],
    digest: str,
    threads: int,
    show_steps: bool,
) -> dict[str, Any]:
    """Train one model and write it atomically to `out_dir`: the base from scratch ("base"), or a copy of
    `DIR/base` fine-tuned ("expert", "multitask"). Module-level so worker processes can run it."""
    import torch

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads or 1)  # one thread: a shared 2-core box thrashes with more
    try:
        return _train_stage(kind, out_dir, data_dir, tokenizer_dir, recipe_json, languages, config_json, digest,
                            show_steps)
    finally:
        torch.set_num_threads(previous_threads)


def _train_stage(
    kind: str,
    out_dir: str,
    data_dir: str,
    tokenizer_dir: str,
    recipe_json: dict[str, Any],
    languages: Sequence[str],
    config_json: dict[str, Any],
    digest: str,
    show_steps: bool,
) -> dict[str, Any]:
    from tqdm import tqdm
    from transformers import WhisperForConditionalGeneration, WhisperTokenizer

    from lors_search.training.trainer import TrainConfig, train
    from lors_search.whisper.model import new_model

    recipe = DemoRecipe.model_validate(recipe_json)
    config = TrainConfig.model_validate(config_json)
    device = _device()
    tokenizer = WhisperTokenizer.from_pretrained(tokenizer_dir)
    out = Path(out_dir)
    if kind == "base":
        model = new_model(recipe.shape, tokenizer, seed=config.seed)
        clips = _clips(Path(data_dir), "base", languages)
    else:
        model = WhisperForConditionalGeneration.from_pretrained(Path(data_dir).parent / "base")
        clips = _clips(Path(data_dir), "expert", languages)
    label = f"{kind} {'/'.join(languages) if kind == 'expert' else ''}".strip()
    bar = tqdm(total=config.steps, desc=f"[demo] train {label}", unit="step", file=sys.stderr,
               disable=not show_steps, mininterval=2.0)
    stats = train(model, tokenizer, clips, config, device=device, on_step=lambda step, loss: bar.update(1))
    bar.close()
    model.to("cpu")
    with atomic_output_dir(out, force=True) as tmp:
        _save_model(model, tokenizer, recipe.shape.window_seconds, tmp)
        _write_stage(tmp, digest, kind=kind, languages=list(languages), steps=stats.steps,
                     seconds=round(stats.seconds, 2), final_loss=stats.final_loss, device=device, clips=len(clips))
    return {"name": label, "seconds": stats.seconds, "final_loss": stats.final_loss, "steps": stats.steps}


def evaluate_stage(model_dir: str, data_dir: str, languages: Sequence[str], batch_size: int, threads: int) -> dict:
    """Dev metrics of one model on `languages`, keyed "<lang>/<task>". Module-level for worker processes."""
    import torch

    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _evaluate_stage(model_dir, data_dir, languages, batch_size)
    finally:
        torch.set_num_threads(previous_threads)


def _evaluate_stage(model_dir: str, data_dir: str, languages: Sequence[str], batch_size: int) -> dict:
    from lors_search.evaluation.evalset import load_eval_set
    from lors_search.evaluation.evaluator import Evaluator
    from lors_search.evaluation.model_dir import load_model_dir

    device = _device()
    model, tokenizer = load_model_dir(model_dir, device=device)
    eval_set = load_eval_set(data_dir, "dev", languages=list(languages))
    start = time.perf_counter()
    result = Evaluator(model, tokenizer, eval_set, batch_size=batch_size, device=device).evaluate()
    return {"cells": {k: dict(v) for k, v in result.cells.items()}, "seconds": time.perf_counter() - start}


def _run_jobs(jobs: list[tuple[str, Callable[..., Any], tuple]], workers: int, progress: bool) -> dict[str, Any]:
    """Run (name, function, args) jobs, `workers` at a time in spawned processes (in-process for 1)."""
    results: dict[str, Any] = {}
    if workers <= 1:
        for name, function, args in jobs:
            results[name] = function(*args)
            _report(progress, name, results[name])
        return results
    from concurrent.futures import as_completed

    from tqdm import tqdm

    context = multiprocessing.get_context("spawn")
    # One aggregate bar (jobs done, elapsed, ETA) for the parallel jobs, whose own step bars are off; each
    # result is printed when its job finishes, not in submission order.
    bar = tqdm(total=len(jobs), desc=f"[demo] {len(jobs)} job(s), {workers} at a time", unit="job",
               file=sys.stderr, disable=not progress, mininterval=1.0)
    with bar, ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {pool.submit(function, *args): name for name, function, args in jobs}
        for future in as_completed(futures):
            name = futures[future]
            results[name] = future.result()
            bar.clear()
            _report(progress, name, results[name])
            bar.update(1)
    return {name: results[name] for name, _, _ in jobs}


def _report(progress: bool, name: str, result: dict[str, Any]) -> None:
    if "final_loss" in result:
        _say(progress, f"{name}: {result['steps']} steps in {result['seconds']:.0f} s, loss {result['final_loss']:.3f}")
    else:
        _say(progress, f"scored {name} on dev in {result['seconds']:.0f} s")


# -------------------------------------------------------------------------------------------------- build


def build_demo(
    out: str | os.PathLike[str],
    recipe: DemoRecipe,
    progress: bool = True,
    *,
    force: bool = False,
    workers: int | None = None,
) -> DemoSummary:
    """Build (or reuse) every stage of the demo in `out` and score every model on dev."""
    from lors_search.speech.corpus import build_corpus, read_corpus_spec
    from lors_search.speech.features import load_features

    start = time.perf_counter()
    cpu_start = _cpu_seconds()
    load_start = os.getloadavg()[0]
    out = Path(out).expanduser().resolve()
    device = _device()
    if workers is None:
        workers = 1 if device == "cuda" else 2
    threads = 1 if workers > 1 else 0
    summary = DemoSummary(out=out, scores={})
    out.mkdir(parents=True, exist_ok=True)
    recipe_json = recipe.to_json()
    langs = list(recipe.languages)
    digests = stage_digests(recipe)
    _say(progress, f"building the {recipe.name} demo ({', '.join(langs)}) in {out} on {device}")

    # 1. corpus
    data_dir = out / "data"
    t0, c0 = time.perf_counter(), _cpu_seconds()
    existing = None
    if data_dir.exists() and not force:
        try:
            existing = read_corpus_spec(data_dir)
        except (UserError, OSError, ValueError):
            existing = None
        if existing != recipe.corpus:
            raise UserError(f"{data_dir} holds another corpus; use --force to rebuild, or another --out")
        summary.reused.append("data")
    else:
        _say(progress, "synthesising speech (eSpeak NG)")
        build_corpus(recipe.corpus, data_dir, workers=2, progress=progress, force=force)
        summary.built.append("data")
    for split in ("train", "dev", "test"):
        load_features(data_dir, split, progress=progress)
    summary.timings["data"] = time.perf_counter() - t0
    summary.stage_cpu["data"] = _cpu_seconds() - c0

    # 2. tokenizer: Whisper's BPE restricted to what the corpus says (2.5x faster training, docs/benchmark.md)
    tok_dir = out / TOKENIZER_DIR
    tok_hash = digests["tokenizer"]
    t0, c0 = time.perf_counter(), _cpu_seconds()
    if _reusable(tok_dir, tok_hash, force):
        summary.reused.append("tokenizer")
    else:
        import datasets

        from lors_search.whisper.tokenizer import restricted_tokenizer

        corpus = datasets.load_from_disk(str(data_dir))
        texts = sorted({t for split in corpus.values() for col in ("transcript", "translation") for t in split[col]})
        tokenizer = restricted_tokenizer(texts)
        with atomic_output_dir(tok_dir, force=True) as tmp:
            tokenizer.save_pretrained(tmp)
            _write_stage(tmp, tok_hash, vocab_size=len(tokenizer), texts=len(texts))
        summary.built.append("tokenizer")
        _say(progress, f"tokenizer: {len(tokenizer)} tokens for {len(texts)} distinct texts")
    summary.timings["tokenizer"] = time.perf_counter() - t0
    summary.stage_cpu["tokenizer"] = _cpu_seconds() - c0

    common = (str(data_dir), str(tok_dir), recipe_json)

    # 3. base (in this process: it is one long job)
    base_dir = out / "base"
    base_hash = digests["base"]
    t0, c0 = time.perf_counter(), _cpu_seconds()
    if _reusable(base_dir, base_hash, force):
        summary.reused.append("base")
    else:
        _run_jobs([("base", train_stage, ("base", str(base_dir), *common, langs, recipe.base.model_dump(mode="json"),
                                         base_hash, 0, progress))], 1, progress)
        summary.built.append("base")
    summary.timings["base"] = time.perf_counter() - t0
    summary.stage_cpu["base"] = _cpu_seconds() - c0

    # 4. experts and multitask, two processes at a time on a CPU
    jobs = []
    hashes = {"base": base_hash}
    for lang in langs:
        config = recipe.expert_config(lang)
        digest = digests[f"experts/{lang}"]
        hashes[f"experts/{lang}"] = digest
        path = out / "experts" / lang
        if _reusable(path, digest, force):
            summary.reused.append(f"experts/{lang}")
        else:
            jobs.append((f"expert {lang}", train_stage, ("expert", str(path), *common, [lang],
                                                        config.model_dump(mode="json"), digest, threads, workers <= 1)))
    digest = digests["multitask"]
    hashes["multitask"] = digest
    if _reusable(out / "multitask", digest, force):
        summary.reused.append("multitask")
    else:
        # the longest job first, so the two workers finish together
        jobs.insert(0, ("multitask", train_stage, ("multitask", str(out / "multitask"), *common, langs,
                                                  recipe.multitask.model_dump(mode="json"), digest, threads,
                                                  workers <= 1)))
    t0, c0 = time.perf_counter(), _cpu_seconds()
    if jobs:
        (out / "experts").mkdir(exist_ok=True)
        _say(progress, f"fine-tuning {len(jobs)} model(s) from the base, {workers} at a time")
        _run_jobs(jobs, workers, progress)
        summary.built.extend(name.replace("expert ", "experts/") for name, _, _ in jobs)
    summary.timings["finetune"] = time.perf_counter() - t0
    summary.stage_cpu["finetune"] = _cpu_seconds() - c0

    # 5. dev scores of every model (experts on their own language)
    t0, c0 = time.perf_counter(), _cpu_seconds()
    scores_hash = digests["scores"]
    scores = _read_scores(out / SCORES_FILE, scores_hash, force)
    if scores is None:
        _say(progress, "scoring every model on dev")
        eval_jobs = [("base", evaluate_stage, (str(base_dir), str(data_dir), langs, recipe.eval_batch_size, threads)),
                     ("multitask", evaluate_stage, (str(out / "multitask"), str(data_dir), langs,
                                                    recipe.eval_batch_size, threads))]
        eval_jobs += [(f"experts/{lang}", evaluate_stage, (str(out / "experts" / lang), str(data_dir), [lang],
                                                            recipe.eval_batch_size, threads)) for lang in langs]
        results = _run_jobs(eval_jobs, workers, progress)
        scores = _scores_document(scores_hash, langs, {name: r["cells"] for name, r in results.items()})
        atomic_write_text(out / SCORES_FILE, json.dumps(scores, indent=2) + "\n")
        summary.built.append("scores")
    else:
        summary.reused.append("scores")
    summary.timings["evaluate"] = time.perf_counter() - t0
    summary.stage_cpu["evaluate"] = _cpu_seconds() - c0
    summary.scores = scores

    summary.seconds = time.perf_counter() - start
    summary.cpu_seconds = _cpu_seconds() - cpu_start
    summary.load_average = (load_start, os.getloadavg()[0])
    _write_build_json(out, recipe, hashes, summary, device)
    return summary


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def _read_scores(path: Path, digest: str, force: bool) -> dict[str, Any] | None:
    if force or not path.exists():
        return None
    try:
        scores = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return scores if scores.get("hash") == digest else None


def _scores_document(digest: str, langs: list[str], cells: dict[str, dict]) -> dict[str, Any]:
    from lors_search.evaluation.scores import gain_retained, normalized_performance

    experts = {key: value for lang in langs for key, value in cells[f"experts/{lang}"].items()}
    summary = {}
    for name in ("base", "multitask"):
        summary[name] = {
            asr_error: {
                "normalized_performance": normalized_performance(cells[name], experts, asr_error=asr_error).to_dict(),
                "gain_retained": gain_retained(cells[name], cells["base"], experts, asr_error=asr_error).to_dict(),
            }
            for asr_error in ("wer", "cer")
        }
    return {
        "hash": digest,
        "split": "dev",
        "languages": langs,
        "models": {
            "base": cells["base"],
            "multitask": cells["multitask"],
            "experts": {lang: cells[f"experts/{lang}"] for lang in langs},
        },
        "expert_cells": experts,
        "summary": summary,
        "definitions": "docs/evaluation.md: experts are scored on their own language only; expert_cells joins them",
    }


def _write_build_json(out: Path, recipe: DemoRecipe, hashes: dict[str, str], summary: DemoSummary, device: str) -> None:
    previous: dict[str, Any] = {}
    try:
        previous = json.loads((out / BUILD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    first = {"timings": {k: round(v, 2) for k, v in summary.timings.items()}, "total_seconds": round(summary.seconds, 2),
             "cpu_seconds": round(summary.cpu_seconds, 2), "load_average": summary.load_average,
             "stage_cpu_seconds": {k: round(v, 2) for k, v in summary.stage_cpu.items()},
             "idle_machine_seconds": round(summary.idle_machine_seconds, 2),
             "cpus": os.cpu_count()}
    document = {
        "recipe_name": recipe.name,
        "recipe_hash": recipe.digest(recipe.to_json()),
        "languages": list(recipe.languages),
        "stages": hashes,
        "device": device,
        "timings": {k: round(v, 2) for k, v in summary.timings.items()},
        "total_seconds": round(summary.seconds, 2),
        "cpu_seconds": round(summary.cpu_seconds, 2),
        "load_average": summary.load_average,
        # the build that did the work (a later, reusing build keeps it)
        "first_build": previous.get("first_build") if not summary.built else first,
        "reused": summary.reused,
        "recipe": recipe.to_json(),
    }
    atomic_write_text(out / BUILD_FILE, json.dumps(document, indent=2) + "\n")


def score_table(scores: dict[str, Any]) -> str:
    """The dev table printed at the end of a build: per language ASR WER/CER and ST BLEU for base, expert,
    multitask; then NP and gain retained (CER-based ASR) of base and multitask."""
    langs = scores["languages"]
    models = scores["models"]
    rows = [("base", models["base"]), ("expert", scores["expert_cells"]), ("multitask", models["multitask"])]
    header = f"{'model':<10}" + "".join(f" | {lang + ' WER/CER/BLEU':^21}" for lang in langs)
    lines = [f"dev scores ({', '.join(langs)}; expert = each expert on its own language)", header, "-" * len(header)]
    for name, cells in rows:
        parts = []
        for lang in langs:
            asr = cells.get(f"{lang}/transcribe", {})
            st = cells.get(f"{lang}/translate", {})
            parts.append(f"{100 * asr.get('wer', float('nan')):5.1f}% {100 * asr.get('cer', float('nan')):5.1f}% "
                         f"{st.get('bleu', float('nan')):5.1f}")
        lines.append(f"{name:<10}" + "".join(f" | {p:^21}" for p in parts))
    lines.append("")
    lines.append("normalised performance (NP) and gain retained, ASR error CER (as the demo's objective):")
    for name in ("base", "multitask"):
        s = scores["summary"][name]["cer"]
        np_t = s["normalized_performance"]["tasks"]
        gr_t = s["gain_retained"]["tasks"]
        lines.append(
            f"{name:<10} NP ASR {_fmt(np_t, 'transcribe')} ST {_fmt(np_t, 'translate')}   "
            f"gain retained ASR {_fmt(gr_t, 'transcribe')} ST {_fmt(gr_t, 'translate')}"
        )
    return "\n".join(lines)


def _fmt(tasks: dict[str, Any], task: str) -> str:
    value = tasks.get(task, {}).get("mean")
    return "  n/a" if value is None else f"{value:5.2f}"


def build_command(quick: bool, out: str | os.PathLike[str] | None, langs: Sequence[str] | None, force: bool) -> int:
    """What `lors-search demo build` does (the main job's first step too): build or reuse the benchmark in
    `out` (default: the demo directory), print the dev scores and a one-line summary."""
    recipe = (quick_recipe if quick else full_recipe)(langs)
    summary = build_demo(out or default_demo_dir(quick), recipe, progress=True, force=force)
    print(score_table(summary.scores))
    done = ", ".join(summary.built) or "nothing"
    print(f"\ndemo in {summary.out} ({summary.seconds:.0f} s; built: {done}; reused: {', '.join(summary.reused) or 'nothing'})")
    return 0
