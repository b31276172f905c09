"""Real search run directories without Ray, for the export and report tests (a uniquely named module, so
tests/report can import it too).

`build_bench`: a tiny benchmark on disk (eSpeak NG corpus of numbers in two languages, a tiny Whisper base
trained for a few seconds, one expert per language fine-tuned from it), laid out like a demo directory.
`build_run`: a run directory as `lors-search search` writes it (docs/search.md): space.yaml, run.json with the
references, a real Optuna study in study.db, trials.parquet, best.yaml, best.json. Each trial's merge is built
and scored by the search's own worker code (`lors_search.runtime.local.local_worker`: PreparedMerger into a
resident model, Evaluator over the rungs), only without Ray Tune around it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

LANGUAGES = ("de", "es")
WINDOW_SECONDS = 2
_FORMS = {"cardinal": {"range": [0, 99], "weight": 2}, "clock": {}}
CORPUS_SPEC = {
    "languages": list(LANGUAGES),
    "domains": {"clean": {"variants": ["", "m1", "f2"], "rate": [160, 200], "pitch": [30, 70]}},
    "subsets": [
        {"split": split, "tag": "base", "domain": "clean", "clips_per_language": count, "forms": _FORMS}
        for split, count in {"train": 40, "dev": 10, "test": 4}.items()
    ],
    "holdout": {"dev": 0.3, "test": 0.2},
    "seed": 3,
    "window_seconds": WINDOW_SECONDS,
}


def build_bench(root: Path) -> Path:
    """base/, experts/<lang>/, multitask/ (the base trained longer: a stand-in compare model), data/ under
    `root`; reused when `root/done` exists."""
    import datasets

    from lors_search.speech.corpus import build_corpus
    from lors_search.speech.features import load_features
    from lors_search.training.trainer import Clips, TrainConfig, train
    from lors_search.whisper.model import ModelShape, build_processor, new_model
    from lors_search.whisper.tokenizer import restricted_tokenizer

    root = Path(root)
    if (root / "done").exists():
        return root
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        data_dir = build_corpus(CORPUS_SPEC, root / "data", workers=1, progress=False, force=True)
        corpus = datasets.load_from_disk(str(data_dir))
        texts = [" " + t for split in corpus.values() for t in (*split["transcript"], *split["translation"])]
        tokenizer = restricted_tokenizer(texts)
        train_split = corpus["train"]
        features = np.asarray(load_features(data_dir, "train", WINDOW_SECONDS))
        languages = list(train_split["language"])

        def clips(keep: Sequence[int]) -> Clips:
            return Clips(
                features=features[list(keep)],
                languages=[languages[i] for i in keep],
                transcripts=[train_split["transcript"][i] for i in keep],
                translations=[train_split["translation"][i] for i in keep],
            )

        shape = ModelShape(d_model=64, encoder_layers=2, decoder_layers=2, attention_heads=2, ffn_dim=128,
                           window_seconds=WINDOW_SECONDS, max_target_positions=24)
        processor = build_processor(tokenizer, WINDOW_SECONDS)

        def save(model: Any, directory: Path) -> None:
            model.generation_config._from_model_config = False
            model.save_pretrained(directory)
            processor.save_pretrained(directory)

        model = new_model(shape, tokenizer, seed=0)
        train(model, tokenizer, clips(range(len(languages))), TrainConfig(steps=150, lr=3e-3, seed=0))
        model.eval()
        save(model, root / "base")
        base_state = {k: v.clone() for k, v in model.state_dict().items()}
        for language in LANGUAGES:
            model.load_state_dict(base_state)
            keep = [i for i, code in enumerate(languages) if code == language]
            train(model, tokenizer, clips(keep), TrainConfig(steps=40, lr=1e-3, seed=1))
            model.eval()
            save(model, root / "experts" / language)
        model.load_state_dict(base_state)
        train(model, tokenizer, clips(range(len(languages))), TrainConfig(steps=30, lr=1e-3, seed=2))
        model.eval()
        save(model, root / "multitask")
        (root / "done").write_text("ok\n")
    finally:
        torch.set_num_threads(threads)
    return root


def space_dict(bench: Path, name: str, *, multi: bool = False) -> dict[str, Any]:
    """A small LoRS space over the bench: per-layer groups on the encoder, one decoder group, 2 rungs."""
    raw: dict[str, Any] = {
        "name": name,
        "base": str(bench / "base"),
        "experts": [
            {"name": language, "path": str(bench / "experts" / language), "language": language}
            for language in LANGUAGES
        ],
        "data": {"path": str(bench / "data"), "split": "dev", "batch_size": 8},
        "method": "lors",
        "groups": {"encoder": {"size": 1}, "decoder": {"size": "all"}, "modules": "per_kind"},
        "rank_ratio": {"low": 0.01, "high": 1.0, "log": True},
        "density": {"low": 0.05, "high": 1.0, "log": True},
        "scale": {"low": 0.1, "high": 1.0, "log": True},
        "seeds": ["paper_defaults", "task_arithmetic"],
        "budget": {"num_samples": 4, "max_failures": 0},
        "fidelity": {"n_per_language": [3, None], "reduction_factor": 2},
        "searcher": {"algorithm": "nsga2" if multi else "tpe", "seed": 0},
        "compare": {"multitask": str(bench / "multitask")},
    }
    if multi:
        raw["objective"] = {"kind": "multi", "objectives": ["asr_wer", "st_bleu"]}
    return raw


def _merge_config_yaml(space: Any, flat: dict[str, Any]) -> str:
    config = space.merge_config(flat)
    return yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), sort_keys=False)


def build_run(
    bench: Path,
    runs_dir: Path,
    name: str,
    *,
    multi: bool = False,
    n_sampled: int = 2,
    prune: Sequence[int] = (2,),
    fail: bool = True,
) -> Path:
    """A finished run `runs_dir/name`: the seed trials, then `n_sampled` sampled
    ones; the trials numbered in `prune` stop after the first rung (PRUNED); with `fail`, one more trial FAILs.
    Reused when `runs_dir/<name>.done` exists."""
    import optuna

    from lors_search.runtime.local import local_worker
    from lors_search.runtime.spec import spec_from_space
    from lors_search.search.driver import resolve_rungs
    from lors_search.search.rundir import RunDir, TrialTable, cell_columns, new_run_record, new_study_name, now, write_best
    from lors_search.space import load_search_space

    root = Path(runs_dir) / name
    done = Path(runs_dir) / f"{name}.done"
    if done.exists():
        return root
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        space_file = runs_dir / f"{name}.space.yaml"
        space_file.write_text(yaml.safe_dump(space_dict(bench, name, multi=multi), sort_keys=False))
        space = load_search_space(space_file)
        names, modes = space.objective_names(), space.objective_modes()

        worker = local_worker(spec_from_space(space))
        rungs = resolve_rungs(space.fidelity.n_per_language, worker.info()["max_per_language"])
        if multi:
            rungs = rungs[-1:]
        references = {"base": worker.reference(None, None, list(rungs))["cells"], "experts": {}}
        for expert in space.experts:
            references["experts"][expert.name] = worker.reference(expert.path, [expert.language], list(rungs))["cells"]
        per_rung = {
            str(n): {
                "base": references["base"][str(n)],
                "experts": {e: cells[str(n)] for e, cells in references["experts"].items()},
            }
            for n in rungs
        }

        run_dir = RunDir(root)
        root.mkdir(parents=True)
        run_dir.space_yaml.write_text(space.resolved_yaml(), encoding="utf-8")
        run = new_run_record(
            name=name,
            study_name=new_study_name(name),
            space_source=str(space_file),
            objectives=list(zip(names, modes, strict=True)),
            data={"path": str(space.data.path), "split": space.data.split, "languages": list(space.languages),
                  "tasks": list(space.data.tasks), "max_per_language": worker.info()["max_per_language"]},
            fidelity=rungs,
        )
        run.update(references=per_rung[str(rungs[-1])], references_per_rung=per_rung)
        run_dir.write_run(run)

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = space.searcher.optuna_sampler()
        study = optuna.create_study(
            study_name=run["study_name"],
            storage=optuna.storages.RDBStorage(run_dir.storage_url),
            sampler=sampler,
            directions=["maximize" if m == "max" else "minimize" for m in modes],
        )
        for point in space.seed_points():
            study.enqueue_trial(point)
        table = TrialTable(run_dir.trials_parquet)
        best: float | None = None
        n_trials = len(space.seed_points()) + n_sampled
        for _ in range(n_trials):
            trial = study.ask()
            space.sampler()(trial)
            flat = dict(trial.params)
            stop = rungs[:1] if trial.number in prune and len(rungs) > 1 else rungs
            result: dict[str, Any] = {}
            scores: dict[str, float] = {}
            merge_s = eval_s = 0.0
            for step, n in enumerate(stop):
                result = worker.run(flat, n)
                merge_s += result["merge_seconds"]
                eval_s += result["eval_seconds"]
                scores = space.score(result["cells"], per_rung, n)
                if len(names) == 1:
                    trial.report(scores[names[0]], step)
            state = "COMPLETE" if stop[-1] == rungs[-1] else "PRUNED"
            if state == "COMPLETE":
                study.tell(trial, [scores[n] for n in names] if len(names) > 1 else scores[names[0]])
            else:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            row = {
                "trial": trial.number,
                "tune_trial_id": f"local_{trial.number:05d}",
                "state": state,
                "objective": float(scores[names[0]]),
                **{f"objective:{n}": float(scores[n]) for n in names},
                "n_per_language": stop[-1],
                **{f"param:{k}": v for k, v in flat.items()},
                **cell_columns(result["cells"]),
                "merge_seconds": merge_s,
                "eval_seconds": eval_s,
                "trial_seconds": merge_s + eval_s,
                "rows_decoded": result["rows_decoded"],
                "retries": 0,
                "merge_config": _merge_config_yaml(space, flat),
                "finished_at": now(),
            }
            table.add(row)
            value = row["objective"]
            if state == "COMPLETE" and math.isfinite(value):
                if best is None or (value > best if modes[0] == "max" else value < best):
                    best = value
                    write_best(run_dir, row, names)
        if fail:
            trial = study.ask()
            space.sampler()(trial)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            table.add(
                {
                    "trial": trial.number,
                    "tune_trial_id": f"local_{trial.number:05d}",
                    "state": "FAIL",
                    "objective": math.nan,
                    **{f"objective:{n}": math.nan for n in names},
                    "n_per_language": None,
                    **{f"param:{k}": v for k, v in trial.params.items()},
                    "merge_seconds": math.nan,
                    "eval_seconds": math.nan,
                    "trial_seconds": math.nan,
                    "rows_decoded": None,
                    "retries": 0,
                    "merge_config": _merge_config_yaml(space, dict(trial.params)),
                    "finished_at": now(),
                }
            )
        run_dir.update_run(status="finished")
        done.write_text("ok\n")
    finally:
        torch.set_num_threads(threads)
    return root


def shared_dir(base: Path, name: str) -> Path:
    """`$LORS_TEST_EXPORT_DIR/name` when set (reused across sessions), else under the session's base temp."""
    shared = os.environ.get("LORS_TEST_EXPORT_DIR")
    return Path(shared) / name if shared else Path(base) / name
