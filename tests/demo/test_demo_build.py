"""The quick demo build end to end: layout, scores, timing, reuse, and refusals."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lors_search.cli import main
from lors_search.demo.build import build_demo
from lors_search.demo.paths import default_demo_dir
from lors_search.demo.recipe import QUICK_LANGUAGES, full_recipe, quick_recipe
from lors_search.errors import UserError

QUICK_BUILD_LIMIT_S = 180.0


def test_layout(quick_demo_dir: Path) -> None:
    for name in ("base", "multitask", *(f"experts/{lang}" for lang in QUICK_LANGUAGES)):
        model = quick_demo_dir / name
        for file in ("model.safetensors", "config.json", "generation_config.json", "tokenizer.json",
                     "processor_config.json", "demo_stage.json"):
            assert (model / file).is_file(), f"{name}/{file}"
    assert (quick_demo_dir / "data" / "dataset_dict.json").is_file()
    build = json.loads((quick_demo_dir / "build.json").read_text())
    assert build["languages"] == list(QUICK_LANGUAGES)
    assert set(build["stages"]) == {"base", "multitask", *(f"experts/{lang}" for lang in QUICK_LANGUAGES)}
    assert not list(quick_demo_dir.glob(".*partial*")), "no half-written stage is left behind"


def test_quick_build_time(quick_demo_dir: Path) -> None:
    """Under 3 minutes on 2 cores. On a machine shared with other jobs the wall time says little, so the
    limit is checked on the idle-machine estimate from each stage's CPU time when the wall time is over."""
    first = json.loads((quick_demo_dir / "build.json").read_text())["first_build"]
    detail = (f"wall {first['total_seconds']:.0f} s, idle-machine estimate {first['idle_machine_seconds']:.0f} s, "
              f"load {first['load_average']}, stages {first['timings']}, cpu {first['stage_cpu_seconds']}")
    assert min(first["total_seconds"], first["idle_machine_seconds"]) < QUICK_BUILD_LIMIT_S, detail


def test_scores_experts_beat_base(quick_demo_dir: Path) -> None:
    scores = json.loads((quick_demo_dir / "scores.json").read_text())
    assert scores["split"] == "dev" and scores["languages"] == list(QUICK_LANGUAGES)
    base = scores["models"]["base"]
    for lang in QUICK_LANGUAGES:
        own = scores["models"]["experts"][lang]
        assert set(own) == {f"{lang}/transcribe", f"{lang}/translate"}
        assert own[f"{lang}/transcribe"]["cer"] < base[f"{lang}/transcribe"]["cer"], lang
    # The quick models are weak translators of unseen numbers (BLEU near 0 for some languages): only the mean.
    bleu = {name: sum(cells[f"{lang}/translate"]["bleu"] for lang in QUICK_LANGUAGES)
            for name, cells in (("base", base), ("experts", scores["expert_cells"]))}
    assert bleu["experts"] >= bleu["base"], bleu
    assert set(scores["models"]["multitask"]) == set(base)


def test_reuse_does_no_work(quick_demo_dir: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in quick_demo_dir.glob("*/model.safetensors")}
    start = time.perf_counter()
    summary = build_demo(quick_demo_dir, quick_recipe(), progress=False)
    assert summary.built == []
    assert time.perf_counter() - start < 30
    assert {p: p.stat().st_mtime_ns for p in quick_demo_dir.glob("*/model.safetensors")} == before


def test_other_recipe_in_same_dir_refused(quick_demo_dir: Path) -> None:
    with pytest.raises(UserError, match="--force"):
        build_demo(quick_demo_dir, quick_recipe(["de", "it"]), progress=False)


@pytest.mark.parametrize(
    ("langs", "message"),
    [(["xx"], "unknown language"), (["de"], "at least two languages"), (["de", "klingon"], "klingon")],
)
def test_bad_langs_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], langs: list[str], message: str) -> None:
    assert main(["demo", "build", "--quick", "--out", str(tmp_path / "d"), "--langs", *langs]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lors-search demo: error:") and message in err and "\n" not in err
    assert not (tmp_path / "d").exists()


def test_recipes() -> None:
    full = full_recipe()
    assert full.languages == ("ca", "de", "es", "fr", "it")
    assert full.multitask.steps == full.expert.steps * 5
    assert full_recipe(["ca", "de", "es", "fr", "it", "id", "nl", "pt", "ru", "sv"]).corpus.languages[-1] == "sv"
    quick = quick_recipe()
    assert quick.multitask.steps == quick.expert.steps * len(quick.languages)
    assert quick.expert_config("es").seed == quick.expert.seed + 1
    assert full.digest(full.to_json()) == full_recipe().digest(full_recipe().to_json())


def test_default_demo_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LORS_DEMO_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_demo_dir(False) == tmp_path / "lors_search" / "demo"
    assert default_demo_dir(True) == tmp_path / "lors_search" / "demo-quick"
    monkeypatch.setenv("LORS_DEMO_DIR", str(tmp_path / "mine"))
    assert default_demo_dir(True) == default_demo_dir(False) == (tmp_path / "mine").resolve()
