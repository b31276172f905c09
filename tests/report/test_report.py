"""`lors-search report` on real run directories: a valid HTML page (parsed with html.parser) with its tables,
valid PNG plots (magic bytes, readable by PIL and matplotlib), the Pareto front of a multi-objective study,
the test split only on request and clearly marked, and atomic output."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest

from lors_search.cli import main
from lors_search.rundir import SearchRun

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """Tables (id -> rows of cell texts), image sources, section ids and all text of a page."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.images: list[str] = []
        self.sections: list[str] = []
        self.classes: dict[str, str] = {}
        self.text: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self.stack: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in ("img", "meta", "br"):
            self.stack.append(tag)
        if tag == "table":
            self._table = attrs.get("id", f"table{len(self.tables)}")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "img":
            self.images.append(attrs["src"])
        elif tag == "section":
            self.sections.append(attrs.get("id", ""))
            self.classes[attrs.get("id", "")] = attrs.get("class", "")

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}> after {self.stack[-3:]}"
        self.stack.pop()
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def check_png(path: Path) -> None:
    import matplotlib.image
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_MAGIC, path
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100
    assert matplotlib.image.imread(path).ndim == 3


def read_page(html: Path) -> Page:
    page = Page(html.read_text(encoding="utf-8"))
    assert page.stack == [], page.stack  # every element closed
    for src in page.images:
        check_png(html.parent / src)
    return page


def test_report_with_comparison_and_test_split(single_run: Path, tmp_path: Path, capsys) -> None:
    html = tmp_path / "report.html"
    assert main(["report", str(single_run), "--out", str(html), "--test", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {html}" in out and "optuna-dashboard sqlite:///" in out

    page = read_page(html)
    assert sorted(Path(src).name for src in page.images) == ["best_layers.png", "history.png"]
    assert "pareto" not in page.sections
    for table_id in ("summary-table", "layers", "dev-asr", "dev-st", "test-asr", "test-st", "trials-table",
                     "headline-test-best", "headline-test-models", "headline-dev-best", "headline-dev-models"):
        assert table_id in page.tables, table_id
    assert page.sections.index("headline") < page.sections.index("dev")  # the answer comes first
    headline = page.tables["headline-test-best"]
    assert headline[0][3:5] == ["NP gap: best - task arithmetic (1/2)", "GR gap: best - task arithmetic (1/2)"]
    assert [row[0] for row in headline[1:]] == ["speech recognition (ASR)", "translation into English (ST)",
                                                "overall (mean of the tasks)"]
    # Every model of the comparison got its rows into the score cache kept with the dataset; a second
    # report decodes nothing and writes the same tables.
    cache_dir = Path(SearchRun(single_run).space().data.path) / "scores"
    assert len(list(cache_dir.rglob("*.json"))) >= 2 * 2 * 5  # 5 models x 2 languages x dev, test
    again = tmp_path / "again.html"
    assert main(["report", str(single_run), "--out", str(again), "--test", "--device", "cpu"]) == 0
    second = capsys.readouterr().out
    assert "lors-search report: scored" not in second and "lors-search report: cached base on dev and test" in second
    assert read_page(again).tables["headline-test-best"] == headline

    run = SearchRun(single_run)
    best = run.best_trial()
    head = page.tables["dev-asr"][0]
    assert head == ["language (WER %)", f"best (trial {best.number})", "base", "expert (own language)",
                    "task arithmetic (1/2)", "LoRS paper defaults", "multitask"]
    rows = {row[0]: row[1:] for row in page.tables["dev-asr"][1:]}
    assert set(rows) == {"de", "es", "mean"}
    for language in ("de", "es"):  # the best column is what the search measured
        assert rows[language][0] == f"{100 * best.cells[f'{language}/transcribe']['wer']:.2f}"
        assert rows[language][1] == f"{100 * run.references['base'][f'{language}/transcribe']['wer']:.2f}"
    st_rows = {row[0]: row[1:] for row in page.tables["dev-st"][1:]}
    assert st_rows["es"][0] == f"{best.cells['es/translate']['bleu']:.2f}"

    text = " ".join(" ".join(page.text).split())
    assert page.classes["test"] == "final-check"
    assert "never used for selection" in text
    assert ".venv/bin/optuna-dashboard sqlite:///" in text and "pip install optuna-dashboard" in text

    trials = page.tables["trials-table"]
    assert [row[1] for row in trials[1:]] == [run.trials[n].state for n in sorted(run.trials)]
    assert {"PRUNED", "FAIL", "COMPLETE"} <= {row[1] for row in trials[1:]}
    layers = page.tables["layers"]
    assert layers[0][:5] == ["stack", "layer", "module", "rank", "density"]
    assert len(layers) - 1 == 10  # 2 encoder layers x 2 modules + 2 decoder layers x 3 modules


def test_report_without_test_has_no_test_numbers(single_run: Path, tmp_path: Path) -> None:
    html = tmp_path / "quick.html"
    assert main(["report", str(single_run), "--out", str(html), "--no-compare", "--device", "cpu"]) == 0
    page = read_page(html)
    assert "test" not in page.sections and "test-asr" not in page.tables and "dev-asr" not in page.tables
    assert (tmp_path / "quick_files" / "history.png").is_file()


def test_multi_objective_report_draws_pareto_front(multi_run: Path, tmp_path: Path) -> None:
    html = tmp_path / "multi.html"
    assert main(["report", str(multi_run), "--out", str(html), "--no-compare", "--device", "cpu"]) == 0
    page = read_page(html)
    assert "pareto" in page.sections
    assert "pareto.png" in {Path(src).name for src in page.images}
    study = SearchRun(multi_run).load_study()
    front = page.tables["pareto-front"]
    assert front[0] == ["trial", "asr_wer", "st_bleu"]
    assert sorted(int(row[0]) for row in front[1:]) == sorted(t.number for t in study.best_trials)
    assert len(front) > 1


def test_report_default_location(single_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(single_run, run)
    assert main(["report", str(run), "--no-compare", "--device", "cpu"]) == 0
    read_page(run / "report.html")
    assert (run / "report_files" / "best_layers.png").is_file()


def test_interrupted_report_leaves_previous_one(single_run: Path, tmp_path: Path, monkeypatch) -> None:
    import lors_search.report.layerwise as layerwise

    html = tmp_path / "report.html"
    assert main(["report", str(single_run), "--out", str(html), "--no-compare", "--device", "cpu"]) == 0
    before = html.read_bytes()
    history = (tmp_path / "report_files" / "history.png").read_bytes()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    # Ctrl-C after the history plot is written, while the best trial's layer-by-layer plot is drawn.
    monkeypatch.setattr(layerwise, "layerwise_plot", interrupted)
    assert main(["report", str(single_run), "--out", str(html), "--no-compare", "--device", "cpu"]) == 130
    assert html.read_bytes() == before
    assert (tmp_path / "report_files" / "history.png").read_bytes() == history
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report_files"]


@pytest.mark.parametrize(("args", "message"), [
    (["--out", "x.txt"], "must name an .html file"),
    (["--test", "--no-compare"], "--test needs the model comparison"),
])
def test_bad_arguments(single_run: Path, tmp_path: Path, capsys, args: list[str], message: str) -> None:
    args = [str(tmp_path / a) if a.endswith(".txt") else a for a in args]
    assert main(["report", str(single_run), *args, "--device", "cpu"]) == 2
    assert message in capsys.readouterr().err


def test_report_and_export_before_any_complete_trial(single_run: Path, tmp_path: Path, capsys) -> None:
    """A search still in its first rung: the report shows what there is; export says there is nothing yet."""
    import shutil

    import pandas as pd

    run = tmp_path / "early"
    shutil.copytree(single_run, run)
    frame = pd.read_parquet(run / "trials.parquet")
    frame[frame["state"] != "COMPLETE"].to_parquet(run / "trials.parquet", index=False)

    assert main(["report", str(run), "--device", "cpu"]) == 0
    page = read_page(run / "report.html")
    assert [Path(src).name for src in page.images] == ["history.png"]
    assert "No complete full-fidelity trial yet." in " ".join(page.text)
    assert main(["export", str(run), "--out", str(tmp_path / "out"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "has no complete full-fidelity trial to export yet (1 pruned, 1 failed)" in err
    assert not (tmp_path / "out").exists()
