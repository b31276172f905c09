"""`lors-search export` on a real run directory: the best or a chosen trial becomes a Hugging Face checkpoint
whose re-measured dev metrics equal the trial's; refusals, --force, interruption and failed verification leave
nothing half-written; the export loads offline through transformers.pipeline()."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lors_search.cli import main
from lors_search.rundir import SearchRun


def export(run: Path, out: Path, *extra: str) -> int:
    return main(["export", str(run), "--out", str(out), "--device", "cpu", *extra])


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".partial-" in p.name or ".old-" in p.name)


@pytest.fixture(scope="module")
def exported(search_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export") / "best"
    assert export(search_run, out) == 0
    return out


def test_export_best_trial_verified(search_run: Path, exported: Path) -> None:
    run = SearchRun(search_run)
    best = json.loads((search_run / "best.json").read_text())
    assert run.best_trial().number == best["trial"]

    names = {p.name for p in exported.iterdir()}
    for required in ("model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
                     "tokenizer_config.json", "processor_config.json", "merge_config.yaml", "README.md", "eval_dev.json"):
        assert required in names
    assert ".checkpoint" not in names
    assert leftovers(exported.parent) == []

    evaluation = json.loads((exported / "eval_dev.json").read_text())
    assert evaluation["verified"] is True and evaluation["tolerance"] == 0.0
    assert evaluation["search"]["trial"] == best["trial"]
    assert evaluation["cells"] == best["metrics"]  # exact: same floats as the search measured
    assert evaluation["cells"] == run.trials[best["trial"]].cells
    assert evaluation["n_per_language"] == best["n_per_language"]
    assert evaluation["batch_size"] == 8  # the space's data.batch_size
    assert len(evaluation["hypotheses"]) == sum(cell["n"] for cell in best["metrics"].values())

    # merge_config.yaml is the trial's config, the same as best.yaml
    assert yaml.safe_load((exported / "merge_config.yaml").read_text()) == yaml.safe_load((search_run / "best.yaml").read_text())

    card = (exported / "README.md").read_text()
    for text in ("arXiv 2502.17380", "## Per-layer parameters", "| encoder | 1 | ffn |", "## Dev metrics",
                 "| de | transcribe |", "| es | translate |", f"`{run.name}`", run.study_name,
                 f"**Trial:** {best['trial']}", "normalized_performance", "exactly equal"):
        assert text in card, text


def test_export_weights_equal_merge_cli(search_run: Path, exported: Path, tmp_path: Path) -> None:
    """The export builds the same weights as `lors-search merge --config best.yaml`."""
    from safetensors.torch import load_file

    out = tmp_path / "merged"
    assert main(["merge", "--config", str(search_run / "best.yaml"), "--out", str(out)]) == 0
    mine, theirs = load_file(exported / "model.safetensors"), load_file(out / "model.safetensors")
    assert mine.keys() == theirs.keys()
    for name in mine:
        assert np.array_equal(mine[name].numpy(), theirs[name].numpy()), name


def test_pipeline_loads_offline_and_transcribes(exported: Path, export_bench: Path, monkeypatch) -> None:
    import datasets
    from transformers import pipeline

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    asr = pipeline("automatic-speech-recognition", model=str(exported), device="cpu")
    dev = datasets.load_from_disk(str(export_bench / "data"))["dev"]
    row = dev[0]
    audio = np.asarray(row["audio"], dtype=np.float32)
    out = asr({"raw": audio, "sampling_rate": 16000}, generate_kwargs={"language": row["language"], "task": "transcribe"})
    assert isinstance(out["text"], str) and out["text"].strip()
    hypotheses = json.loads((exported / "eval_dev.json").read_text())["hypotheses"]
    mine = [h["hypothesis"] for h in hypotheses if h["id"] == row["id"] and h["task"] == "transcribe"]
    assert mine  # the fixture's full fidelity is the whole dev split
    assert out["text"].strip() == mine[0]  # the pipeline decodes what the evaluator decoded


def test_export_chosen_trial(search_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "trial0"
    assert export(search_run, out, "--trial", "0") == 0
    evaluation = json.loads((out / "eval_dev.json").read_text())
    assert evaluation["search"]["trial"] == 0
    assert evaluation["cells"] == SearchRun(search_run).trials[0].cells
    assert "**Trial:** 0 (COMPLETE" in (out / "README.md").read_text()


@pytest.mark.parametrize(
    ("trial", "message"),
    [("2", "trial 2 was PRUNED"), ("4", "trial 4 FAILED"), ("99", "has no finished trial 99")],
)
def test_refuses_pruned_failed_unknown(search_run: Path, tmp_path: Path, capsys, trial: str, message: str) -> None:
    out = tmp_path / "out"
    assert export(search_run, out, "--trial", trial) == 2
    err = capsys.readouterr().err
    assert err.startswith("lors-search export: error: ") and message in err and err.count("\n") == 1
    assert not out.exists() and leftovers(tmp_path) == []


def test_refuses_existing_dir_unless_force(search_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert export(search_run, out) == 2
    assert "already exists (use --force" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"

    assert export(search_run, out, "--force") == 0
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").is_file()
    assert json.loads((out / "eval_dev.json").read_text())["verified"] is True
    assert leftovers(tmp_path) == []


def test_interrupted_during_evaluation_leaves_nothing(search_run: Path, tmp_path: Path, monkeypatch) -> None:
    import lors_search.export.exporter as exporter

    seen: list[Path] = []

    def interrupted(model_dir: Path, *args, **kwargs):
        seen.append(model_dir)
        assert (model_dir / "model.safetensors").is_file()  # the checkpoint was written, then ^C
        raise KeyboardInterrupt

    monkeypatch.setattr(exporter, "evaluate_model_dir", interrupted)
    out = tmp_path / "out"
    assert export(search_run, out) == 130
    assert seen and not out.exists() and leftovers(tmp_path) == []
    assert not seen[0].exists()


def test_interrupted_while_writing_weights_keeps_old_export(search_run: Path, tmp_path: Path, monkeypatch) -> None:
    """^C half-way through model.safetensors: with --force over an earlier export, that export survives intact."""
    import lors_search.checkpoints.saving as saving

    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("earlier export")

    def half_written(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"\x00" * 1000)
        raise KeyboardInterrupt

    monkeypatch.setattr(saving, "save_file", half_written)
    assert export(search_run, out, "--force") == 130
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
    assert leftovers(tmp_path) == []


def test_verification_failure_fails_loudly(search_run: Path, tmp_path: Path, capsys) -> None:
    """Metrics that do not match the trial's (here: tampered in trials.parquet) -> exit 2, nothing at --out."""
    run = tmp_path / "tampered"
    shutil.copytree(search_run, run)
    best = json.loads((run / "best.json").read_text())["trial"]
    frame = pd.read_parquet(run / "trials.parquet")
    frame.loc[frame["trial"] == best, "metric:es/transcribe:wer"] += 0.01
    frame.to_parquet(run / "trials.parquet", index=False)

    out = tmp_path / "out"
    assert export(run, out) == 2
    err = capsys.readouterr().err
    assert "verification failed" in err and "es/transcribe wer" in err and "nothing was written" in err
    assert not out.exists() and leftovers(tmp_path) == []


def test_not_a_run_dir(tmp_path: Path, capsys) -> None:
    assert export(tmp_path, tmp_path / "out") == 2
    assert "is not a search run (no run.json" in capsys.readouterr().err
